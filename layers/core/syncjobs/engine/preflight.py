"""Preflight: what makes every shard of a run fail, found before the run is planned.

A mapping that does not compile, a secret that is missing, an export whose header cannot be read or
lacks a mapped column, a target that refuses the credentials: retrying cannot fix any of them, so a
run that meets one fails at once with the reason (and `jobs apply` refuses what it can see then),
instead of retrying its shards into the dead-letter queue. Each problem is one line that names the
field, column or secret. Pure: the facts (headers, lookups, probe answers) come from the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from syncjobs.engine.mapping import check_expression, referenced_names
from syncjobs.models.job import CsvS3Source, JobDefinition
from syncjobs.models.outcome import EntityType

_MAX_LISTED = 300  # characters of a header quoted in a problem


def mapping_problems(job: JobDefinition) -> list[str]:
    """Every mapping and scope expression that cannot render: syntax errors, unknown filters and tests."""
    problems: list[str] = []
    for entity_type in job.phases:
        for path, source in job.mapping.get(entity_type, {}).items():
            problems += check_expression(f"mapping.{entity_type.value}.{path}", source)
        if (scope := job.scope.get(entity_type)) is not None:
            problems += check_expression(f"scope.{entity_type.value}", scope)
    return problems


def _listed(header: list[str]) -> str:
    text = ", ".join(header)
    return text if len(text) <= _MAX_LISTED else text[:_MAX_LISTED] + "..."


def column_problems(job: JobDefinition, entity_type: EntityType, header: list[str]) -> list[str]:
    """The columns a CSV job reads for `entity_type` that its export's header lacks, each naming the
    field that reads it. A SCIM source has no header: its attributes are whatever a resource holds."""
    source = job.source
    if not isinstance(source, CsvS3Source):
        return []
    columns = set(header)
    groups_file = entity_type is EntityType.GROUPS and source.groups is not None
    prefix = "source.groups" if groups_file else "source"
    where = f"s3://{source.bucket}/{source.groups.key if groups_file and source.groups else source.key}"
    wanted: list[tuple[str, str]] = []
    if entity_type is EntityType.GROUPS and source.groups is not None:
        groups = source.groups
        wanted += [(f"{prefix}.id_column", groups.id_column), (f"{prefix}.members_column", groups.members_column)]
        if groups.modified_column:
            wanted.append((f"{prefix}.modified_column", groups.modified_column))
    else:
        wanted.append((f"{prefix}.id_column", source.id_column))
        if source.modified_column:
            wanted.append((f"{prefix}.modified_column", source.modified_column))
    for path, expression in job.mapping.get(entity_type, {}).items():
        wanted += [(f"mapping.{entity_type.value}.{path}", name) for name in sorted(referenced_names(expression))]
    if (scope := job.scope.get(entity_type)) is not None:
        wanted += [(f"scope.{entity_type.value}", name) for name in sorted(referenced_names(scope))]
    return [
        f"{field}: column {column!r} is not in the header of {where} ({_listed(header)})"
        for field, column in wanted
        if column not in columns
    ]


def secret_fields(job: JobDefinition) -> list[tuple[str, str]]:
    """(field, secret name) of each secret the job reads."""
    fields = []
    if getattr(job.source, "token_secret", None):
        fields.append(("source.token_secret", str(job.source.token_secret)))  # type: ignore[union-attr]
    if job.target.token_secret:
        fields.append(("target.token_secret", job.target.token_secret))
    return fields


def under_prefix(name: str, prefix: str) -> bool:
    """Whether a secret name is under the deployment's prefix (the only secrets the functions may read).
    An SSM parameter's ARN drops the name's leading slash, so `ssm:/syncjobs/x` is under `syncjobs/`."""
    if name.startswith("ssm:"):
        name = name.removeprefix("ssm:").lstrip("/")
    return name.startswith(prefix)


class SecretState(Enum):
    FOUND = "found"
    MISSING = "missing"
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class SecretLookup:
    state: SecretState
    detail: str = ""  # why it could not be read


def secret_problem(field: str, name: str, prefix: str, lookup: SecretLookup | None) -> str | None:
    """`lookup` None: not looked up (it is outside the prefix, so the functions may not read it)."""
    if not under_prefix(name, prefix):
        return f"{field}: secret {name!r} is not under the prefix {prefix!r} that the functions may read"
    if lookup is None or lookup.state is SecretState.FOUND:
        return None
    if lookup.state is SecretState.MISSING:
        return f"{field}: secret {name!r} does not exist"
    return f"{field}: secret {name!r} cannot be read: {lookup.detail}"


def probe_problem(role: str, url: str, status: int | None, detail: str) -> str | None:
    """A SCIM service's (`role`: source or target) answer to GET /Users?count=0 as a problem, when
    retrying cannot change it: 401/403 (the credentials), 404 (not a SCIM endpoint). No answer, 429 and
    5xx pass: the shards retry those, as they would mid-run."""
    said = f"HTTP {status} {detail}".rstrip()
    if status in (401, 403):
        return f"{role}.token_secret: the {role} {url} refused the credentials ({said})"
    if status == 404:
        return f"{role}.base_url: {url}/Users does not exist ({said}): is the base URL the SCIM endpoint?"
    return None
