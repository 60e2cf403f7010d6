"""Build a job's source and target connectors from its definition."""

from __future__ import annotations

from syncjobs.connectors.csv_s3 import CsvS3SourceConnector
from syncjobs.connectors.scim import ScimTargetConnector
from syncjobs.models.job import JobDefinition
from syncjobs.store.objects import SourceObjects
from syncjobs.store.secrets import get_secret


def source_for(job: JobDefinition) -> CsvS3SourceConnector:
    return CsvS3SourceConnector(job.source, SourceObjects())


def target_for(job: JobDefinition) -> ScimTargetConnector:
    token = get_secret(job.target.token_secret) if job.target.token_secret else None
    return ScimTargetConnector(job.target, token, job.retry)
