"""Build a job's source and target connectors from its definition."""

from __future__ import annotations

from syncjobs.connectors.base import Source
from syncjobs.connectors.csv_s3 import CsvS3SourceConnector
from syncjobs.connectors.scim import ScimTargetConnector
from syncjobs.connectors.scim_source import ScimSourceConnector
from syncjobs.deadline import Budget
from syncjobs.engine.destinations import DestinationRefused, destination_problem
from syncjobs.models.job import CsvS3Source, JobDefinition
from syncjobs.models.outcome import EntityType
from syncjobs.settings import get_settings
from syncjobs.store.objects import SourceObjects
from syncjobs.store.secrets import get_secret, secret_destinations


def source_for(job: JobDefinition, entity_type: EntityType = EntityType.USERS, budget: Budget | None = None) -> Source:
    """`budget`: the invocation's time, which the source's calls and waits stay within."""
    if isinstance(job.source, CsvS3Source):
        return CsvS3SourceConnector(job.source, SourceObjects(), entity_type)
    token = token_for("source", job.source.token_secret, job.source.base_url)
    return ScimSourceConnector(job.source, entity_type, token, job.retry, budget=budget)


def target_for(job: JobDefinition, budget: Budget | None = None) -> ScimTargetConnector:
    token = token_for("target", job.target.token_secret, job.target.base_url)
    return ScimTargetConnector(job.target, token, job.retry, budget=budget)


def send_refusal(role: str, secret: str, url: str) -> str | None:
    """Why `secret` may not be sent to the job's `role` URL (source or target), or None. The secret's
    destinations are read (StoreError when they cannot be); its value is not."""
    return destination_problem(
        f"{role}.base_url", secret, url, secret_destinations(secret), get_settings().loopback_http
    )


def token_for(role: str, secret: str | None, url: str) -> str | None:
    """The secret's value, read only when `url` is among its declared destinations
    (DestinationRefused otherwise: the secret is never read, let alone sent)."""
    if not secret:
        return None
    problem = send_refusal(role, secret, url)
    if problem is not None:
        raise DestinationRefused(problem)
    return get_secret(secret)
