"""Job definitions: what an admin writes (YAML) and what a run executes.

Validation errors name the field (pydantic's `loc`), see `syncjobs.models.errors.describe`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from syncjobs.models.outcome import EntityType

JOB_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CsvS3Source(_Strict):
    """A CSV export in S3: one row per user, a header row naming the columns."""

    type: Literal["csv_s3"]
    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)
    id_column: str = Field(min_length=1, description="column holding the entity's stable id")
    modified_column: str | None = Field(default=None, description="column holding last-modified time")
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    max_row_bytes: int = Field(default=65536, ge=256, le=1048576, description="longer rows fail")


class ScimTarget(_Strict):
    """A SCIM 2.0 service provider."""

    type: Literal["scim"]
    name: str = Field(default="SCIM", min_length=1, max_length=100)
    base_url: str = Field(pattern=r"^https?://", max_length=2048)
    token_secret: str | None = Field(
        default=None,
        description="name of the Secrets Manager secret (or ssm:/name SSM parameter) holding the bearer token",
    )
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)

    @field_validator("token_secret")
    @classmethod
    def _secret_name(cls, value: str | None) -> str | None:
        if value is not None:
            name = value.removeprefix("ssm:")
            if not _SECRET_NAME.match(name):
                raise ValueError("must be a Secrets Manager secret name or ssm:/parameter/name")
        return value


class RetryPolicy(_Strict):
    """Retries of throttled (429), unavailable (5xx) or timed-out target calls (SAP: 2 retries, 30 s)."""

    retries: int = Field(default=2, ge=0, le=5)
    delay_seconds: float = Field(default=30.0, ge=0, le=60)


class DeletePolicy(_Strict):
    """Deletes happen only after a full read that read every row; a threshold holds them all back."""

    enabled: bool = Field(default=True, description="false = upsert only: never delete in the target")
    max_count: int | None = Field(default=None, ge=0, description="more pending deletes than this: delete none")
    max_percent: float | None = Field(
        default=None, ge=0, le=100, description="more than this % of provisioned entities: delete none"
    )


class DeltaSettings(_Strict):
    """Delta reads: only entities modified since the last successful run (SAP ips.delta.read)."""

    enabled: bool = True
    full_read_every: int = Field(default=10, ge=1, le=1000, description="force a full read after N delta reads")


class NotificationSettings(_Strict):
    """SAP's job notification properties (ips.job.notification.*)."""

    skip_intermediate_notifications: bool = False
    ignored_consecutive_failures: int = Field(default=0, ge=0, le=100)
    repeat_on_failure: bool = False


class TraceLevel(StrEnum):
    OFF = "off"
    IDS = "ids"
    CONTENT = "content"


class TraceSettings(_Strict):
    """What each outcome log records: nothing, entity ids, or ids with the mapped content."""

    created: TraceLevel = TraceLevel.IDS
    updated: TraceLevel = TraceLevel.IDS
    skipped: TraceLevel = TraceLevel.IDS
    failed: TraceLevel = TraceLevel.IDS
    deleted: TraceLevel = TraceLevel.IDS

    @field_validator("deleted")
    @classmethod
    def _no_content_for_deleted(cls, value: TraceLevel) -> TraceLevel:
        if value is TraceLevel.CONTENT:
            raise ValueError("deleted entities never carry content; use 'ids' or 'off'")
        return value


class JobDefinition(_Strict):
    job_id: str = Field(pattern=JOB_ID_PATTERN, description="lower-case letters, digits and dashes")
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    source: CsvS3Source  # a discriminated union on `type` once there is a second source
    target: ScimTarget
    entity_types: list[EntityType] = Field(default_factory=lambda: [EntityType.USERS], min_length=1)
    mapping: dict[EntityType, dict[str, str]] = Field(
        description="per entity type: target attribute (dotted path) -> jinja2 expression over source columns"
    )
    scope: str | None = Field(default=None, description="jinja2 expression; false means out of scope")
    shard_size: int = Field(default=500, ge=1, le=10000)
    trace: TraceSettings = TraceSettings()
    retry: RetryPolicy = RetryPolicy()
    deletes: DeletePolicy = DeletePolicy()
    delta: DeltaSettings | None = None
    notification: NotificationSettings = NotificationSettings()
    log_format: Literal["csv", "jsonl"] = "csv"

    @model_validator(mode="after")
    def _mapping_covers_entity_types(self) -> JobDefinition:
        for entity_type in self.entity_types:
            if entity_type not in self.mapping or not self.mapping[entity_type]:
                raise ValueError(f"mapping.{entity_type.value}: is required for entity type {entity_type.value}")
        if self.delta is not None and self.delta.enabled and not self.source.modified_column:
            raise ValueError("source.modified_column: is required for delta reads (delta.enabled)")
        if EntityType.USERS in self.mapping and "userName" not in self.mapping[EntityType.USERS]:
            raise ValueError("mapping.users.userName: is required (SCIM's unique user key)")
        return self

    def to_document(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Subscription(_Strict):
    job_id: str = Field(pattern=JOB_ID_PATTERN)
    email: EmailStr
