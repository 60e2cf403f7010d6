"""Build a job's source and target connectors from its definition."""

from __future__ import annotations

from syncjobs.connectors.base import Source
from syncjobs.connectors.csv_s3 import CsvS3SourceConnector
from syncjobs.connectors.scim import ScimTargetConnector
from syncjobs.connectors.scim_source import ScimSourceConnector
from syncjobs.deadline import Budget
from syncjobs.models.job import CsvS3Source, JobDefinition
from syncjobs.models.outcome import EntityType
from syncjobs.store.objects import SourceObjects
from syncjobs.store.secrets import get_secret


def source_for(job: JobDefinition, entity_type: EntityType = EntityType.USERS, budget: Budget | None = None) -> Source:
    """`budget`: the invocation's time, which the source's calls and waits stay within."""
    if isinstance(job.source, CsvS3Source):
        return CsvS3SourceConnector(job.source, SourceObjects(), entity_type)
    token = get_secret(job.source.token_secret) if job.source.token_secret else None
    return ScimSourceConnector(job.source, entity_type, token, job.retry, budget=budget)


def target_for(job: JobDefinition, budget: Budget | None = None) -> ScimTargetConnector:
    token = get_secret(job.target.token_secret) if job.target.token_secret else None
    return ScimTargetConnector(job.target, token, job.retry, budget=budget)
