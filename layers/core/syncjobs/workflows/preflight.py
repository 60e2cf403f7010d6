"""Preflight checks with their facts: the job's secrets, its export's header, the peers' answers.

`apply_problems`: what `jobs apply` refuses (the job cannot run as written). `start_problems`: what
fails a run in start_run before any shard is queued. Both return problem lines (syncjobs.engine.preflight);
a throttled or unavailable AWS call raises TransientStoreError (nothing is decided on a guess).
"""

from __future__ import annotations

from syncjobs.connectors.csv_s3 import CsvS3SourceConnector, CsvSourceError
from syncjobs.connectors.registry import send_refusal
from syncjobs.connectors.scim import ScimTargetConnector
from syncjobs.connectors.scim_source import ScimSourceConnector
from syncjobs.engine.preflight import (
    SecretLookup,
    SecretState,
    column_problems,
    mapping_problems,
    probe_problem,
    secret_fields,
    secret_problem,
    under_prefix,
)
from syncjobs.models.job import CsvS3Source, JobDefinition
from syncjobs.models.outcome import EntityType
from syncjobs.models.run import RunType
from syncjobs.settings import get_settings
from syncjobs.store.errors import NotFound, StoreError, TransientStoreError
from syncjobs.store.objects import SourceObjects
from syncjobs.store.secrets import get_secret, secret_exists


def apply_problems(job: JobDefinition) -> list[str]:
    """The mapping compiles and its filters exist, each secret exists under the prefix, and, when the
    export can be read now, it has the columns the job reads. An export that is missing or unreadable
    is not refused: it may be uploaded or fixed before the first run (start_run checks it then)."""
    prefix = get_settings().secrets_prefix
    problems = mapping_problems(job)
    for field, name in secret_fields(job):
        lookup = _exists(name) if under_prefix(name, prefix) else None
        if (problem := secret_problem(field, name, prefix, lookup)) is not None or (
            problem := _destination(job, field, name)
        ) is not None:
            problems.append(problem)
    if isinstance(job.source, CsvS3Source):
        for entity_type in job.phases:
            try:
                header = _header(job.source, entity_type)
            except TransientStoreError:
                raise
            except (StoreError, CsvSourceError):
                continue
            problems += column_problems(job, entity_type, header)
    return problems


def start_problems(job: JobDefinition, run_type: RunType) -> list[str]:
    """What keeps every shard of this run from succeeding: the mapping, the secrets (readable), the
    source (the export's header and its columns, or a SCIM source taking the token) and the target
    taking the credentials (not asked for a simulate run, which never calls it)."""
    prefix = get_settings().secrets_prefix
    problems = mapping_problems(job)
    tokens: dict[str, str | None] = {}
    for field, name in secret_fields(job):
        lookup = None
        if under_prefix(name, prefix) and (refused := _destination(job, field, name)) is not None:
            problems.append(refused)  # the secret is not even read
            continue
        if under_prefix(name, prefix):
            lookup, tokens[field] = _read(name)
        if (problem := secret_problem(field, name, prefix, lookup)) is not None:
            problems.append(problem)
    source, target = job.source, job.target
    if isinstance(source, CsvS3Source):
        for entity_type in job.phases:
            problems += _export_problems(job, source, entity_type)
    elif not source.token_secret or tokens.get("source.token_secret") is not None:
        token = tokens.get("source.token_secret")
        problems += _probed("source", source.base_url, ScimSourceConnector(source, EntityType.USERS, token, job.retry))
    if run_type is not RunType.SIMULATE and (not target.token_secret or tokens.get("target.token_secret") is not None):
        token = tokens.get("target.token_secret")
        problems += _probed("target", target.base_url, ScimTargetConnector(target, token, job.retry))
    return problems


def _export_problems(job: JobDefinition, source: CsvS3Source, entity_type: EntityType) -> list[str]:
    field = "source.groups.key" if entity_type is EntityType.GROUPS else "source.key"
    try:
        header = _header(source, entity_type)
    except TransientStoreError:
        raise
    except NotFound:
        key = source.groups.key if entity_type is EntityType.GROUPS and source.groups else source.key
        return [f"{field}: the export s3://{source.bucket}/{key} does not exist"]
    except StoreError as err:
        return [f"{field}: the export cannot be read: {err}"]
    except CsvSourceError as err:
        return [f"{field}: {err}"]
    return column_problems(job, entity_type, header)


def _header(source: CsvS3Source, entity_type: EntityType) -> list[str]:
    return CsvS3SourceConnector(source, SourceObjects(), entity_type).header()


def _probed(role: str, url: str, connector: ScimTargetConnector | ScimSourceConnector) -> list[str]:
    try:
        answer = connector.probe()
    finally:
        connector.close()
    problem = probe_problem(role, url, answer.status, answer.detail)
    return [problem] if problem else []


def _destination(job: JobDefinition, field: str, name: str) -> str | None:
    """Why the job's URL next to `field` (source or target) may not receive secret `name`, or None.
    A secret that cannot be looked up is secret_problem's to report."""
    role = field.split(".", 1)[0]
    url = job.target.base_url if role == "target" else getattr(job.source, "base_url", "")
    try:
        return send_refusal(role, name, url)
    except TransientStoreError:
        raise
    except NotFound:
        return None  # secret_problem says the secret does not exist
    except StoreError as err:  # fail closed: a secret whose destinations cannot be read is never sent
        return f"{role}.base_url: the destinations of secret {name!r} cannot be read ({err}): it is not sent"


def _exists(name: str) -> SecretLookup:
    try:
        return SecretLookup(SecretState.FOUND if secret_exists(name) else SecretState.MISSING)
    except TransientStoreError:
        raise
    except StoreError as err:
        return SecretLookup(SecretState.UNREADABLE, str(err))


def _read(name: str) -> tuple[SecretLookup, str | None]:
    try:
        return SecretLookup(SecretState.FOUND), get_secret(name)
    except TransientStoreError:
        raise
    except NotFound:
        return SecretLookup(SecretState.MISSING), None
    except StoreError as err:
        return SecretLookup(SecretState.UNREADABLE, str(err)), None
