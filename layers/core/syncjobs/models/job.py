"""Job definitions: what an admin writes (YAML) and what a run executes.

Validation errors name the field (pydantic's `loc`), see `syncjobs.models.errors.describe`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictBool, field_validator, model_validator

from syncjobs.engine.mapping import path_problems
from syncjobs.models.outcome import EntityType
from syncjobs.models.run import RunType

JOB_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CsvGroupsFile(_Strict):
    """A second CSV export in the same bucket: one row per group, its members' user ids in one column."""

    key: str = Field(min_length=1, max_length=1024)
    id_column: str = Field(min_length=1, description="column holding the group's stable id")
    members_column: str = Field(min_length=1, description="column holding the member users' ids")
    members_separator: str = Field(default=";", min_length=1, max_length=1)
    modified_column: str | None = Field(default=None, description="column holding last-modified time")


class CsvS3Source(_Strict):
    """A CSV export in S3: one row per user, a header row naming the columns (and optionally a groups file)."""

    type: Literal["csv_s3"]
    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=1024)
    id_column: str = Field(min_length=1, description="column holding the entity's stable id")
    modified_column: str | None = Field(default=None, description="column holding last-modified time")
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    max_row_bytes: int = Field(default=65536, ge=256, le=1048576, description="longer rows fail")
    groups: CsvGroupsFile | None = Field(default=None, description="the groups export, for entity type groups")
    name: str | None = Field(
        default=None, min_length=1, max_length=100, description="what mails call the source (default: the file name)"
    )

    @property
    def display_name(self) -> str:
        """The name mails and run details give the source system (SAP: "Source System: <name>"): the
        source's `name`, else the export's location (a mail's subject shortens that to the file name)."""
        return self.name or f"s3://{self.bucket}/{self.key}"

    def has(self, entity_type: EntityType) -> bool:
        return entity_type is EntityType.USERS or self.groups is not None

    def delta_capable(self, entity_type: EntityType) -> bool:
        if entity_type is EntityType.GROUPS:
            return self.groups is not None and self.groups.modified_column is not None
        return self.modified_column is not None


class _ScimService(_Strict):
    """A SCIM 2.0 service provider (RFC 7643/7644) reached over HTTP with an optional bearer token."""

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


class ScimSource(_ScimService):
    """A SCIM 2.0 service read as a source: /Users and /Groups, paged and sorted by id, delta by
    meta.lastModified. Group members are the source's user ids (`members[].value`)."""

    type: Literal["scim"]
    page_size: int = Field(default=200, ge=1, le=1000, description="resources per listing request")

    @property
    def display_name(self) -> str:
        return self.name if self.name != "SCIM" else self.base_url

    def has(self, entity_type: EntityType) -> bool:
        return True

    def delta_capable(self, entity_type: EntityType) -> bool:
        return True


class ScimTarget(_ScimService):
    """A SCIM 2.0 service written as the target."""

    type: Literal["scim"]
    adopt_unmarked: StrictBool = Field(
        default=False,
        description="take over an existing target account without externalId that matches a source entity "
        "(userName); by default only accounts whose externalId is the source id are adopted",
    )
    member_chunk_size: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="group members added or removed in one PATCH request (several targets, among them AWS "
        "IAM Identity Center, take at most 100); members are never sent in POST/PUT",
    )
    max_writes_per_second: float | None = Field(
        default=None,
        gt=0,
        le=10000,
        description="the most write requests (POST, PUT, PATCH, DELETE) a second the job sends the target, "
        "across all its shards (a shared token bucket; lowered while the target answers 429, raised again "
        "after successes); null: no limit",
    )
    max_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="the most entities written to the target at once, across all the job's shards (each shard "
        "writes up to 4 at once, slots leased job-wide); null: each shard writes one entity at a time",
    )


class RetryPolicy(_Strict):
    """Retries of throttled (429), unavailable (5xx) or timed-out target calls (SAP: 2 retries, 30 s)."""

    retries: int = Field(default=2, ge=0, le=5)
    delay_seconds: float = Field(default=30.0, ge=0, le=60)


class DeleteMode(StrEnum):
    """What a delete does in the target: remove the entity, or (users) keep it inactive (Entra's soft delete)."""

    DELETE = "delete"
    DISABLE = "disable"  # PATCH active=false (RFC 7644 3.5.2); groups have no `active` and are deleted


DEFAULT_DELETE_MAX_COUNT = 500
DEFAULT_DELETE_MAX_PERCENT = 30.0


class DeletePolicy(_Strict):
    """Deletes happen only with proof that an entity is gone: after a full read that read every row,
    or, for entities read and out of scope, after any full read. A threshold holds them all back
    (Entra's accidental-deletion prevention): on by default; `null` turns either limit off."""

    enabled: bool = Field(default=True, description="false = upsert only: never delete in the target")
    mode: DeleteMode = Field(default=DeleteMode.DELETE, description="delete, or disable (users: active=false)")
    max_count: int | None = Field(
        default=DEFAULT_DELETE_MAX_COUNT,
        ge=0,
        description="more pending deletes than this: delete none; null: no limit",
    )
    max_percent: float | None = Field(
        default=DEFAULT_DELETE_MAX_PERCENT,
        ge=0,
        le=100,
        description="more than this % of provisioned entities: delete none; null: no limit",
    )


class DeltaSettings(_Strict):
    """Delta reads: only entities modified since the last successful run (SAP ips.delta.read)."""

    enabled: bool = True
    full_read_every: int = Field(default=10, ge=1, le=1000, description="force a full read after N delta reads")


class NotificationSettings(_Strict):
    """SAP's job notification properties (ips.job.notification.*), and Entra's daily cap."""

    skip_intermediate_notifications: bool = False
    ignored_consecutive_failures: int = Field(default=0, ge=0, le=100)
    repeat_on_failure: bool = False
    notify_run_types: list[RunType] = Field(
        default_factory=lambda: [RunType.READ, RunType.RESYNC], description="SAP: only read and resync notify"
    )
    max_one_mail_per_day: bool = Field(
        default=False, description="per recipient: hold further mails for 24 h and list them in the next one"
    )


class QuarantineSettings(_Strict):
    """Entra's quarantine: after this many runs in a row that failed outright, scheduled fires are
    skipped with a growing back-off (6 h, 12 h, then 24 h) until a run succeeds or an admin restarts."""

    enabled: bool = True
    after_failures: int = Field(default=5, ge=1, le=100)


class ApprovalSettings(_Strict):
    """Netwrix's workflow approval: a fired run first runs as a simulate (a preview); the approvers get
    its counts and logs with approve and reject links, and only an approval starts the real run."""

    required: bool = False
    approvers: list[EmailStr] = Field(default_factory=list, max_length=20)
    expires_after_hours: int = Field(default=72, ge=1, le=720, description="an undecided request expires then")
    allow_self_approval: bool = Field(
        default=False,
        description="the admin who asked for the run may approve it too (for one-admin teams); otherwise refused",
    )

    @model_validator(mode="after")
    def _approvers_when_required(self) -> ApprovalSettings:
        if self.required and not self.approvers:
            raise ValueError("approvers: name at least one approver when approval is required")
        return self


class SubscriptionTrigger(StrEnum):
    """When a subscriber is mailed: the job's default (SAP) policy, or one of Netwrix's triggers."""

    DEFAULT = "default"
    ALWAYS = "always"
    RECORDS_UPDATED = "records_updated"
    ERRORS = "errors"
    JOB_FAILS = "job_fails"


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
    source: CsvS3Source | ScimSource = Field(discriminator="type")
    target: ScimTarget
    entity_types: list[EntityType] = Field(default_factory=lambda: [EntityType.USERS], min_length=1)
    mapping: dict[EntityType, dict[str, str]] = Field(
        description="per entity type: target attribute (dotted path) -> jinja2 expression over source columns"
    )
    scope: dict[EntityType, str] = Field(
        default_factory=dict,
        description="per entity type: jinja2 expression, false means out of scope (a plain string scopes users)",
    )
    shard_size: int = Field(default=500, ge=1, le=10000)
    trace: TraceSettings = TraceSettings()
    retry: RetryPolicy = RetryPolicy()
    deletes: DeletePolicy = DeletePolicy()
    delta: DeltaSettings | None = None
    notification: NotificationSettings = NotificationSettings()
    quarantine: QuarantineSettings = QuarantineSettings()
    approval: ApprovalSettings = ApprovalSettings()
    log_format: Literal["csv", "jsonl"] = "csv"

    @field_validator("scope", mode="before")
    @classmethod
    def _plain_scope_is_users(cls, value: Any) -> Any:
        if value is None:
            return {}
        return {EntityType.USERS.value: value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _mapping_covers_entity_types(self) -> JobDefinition:
        for entity_type in self.entity_types:
            if entity_type not in self.mapping or not self.mapping[entity_type]:
                raise ValueError(f"mapping.{entity_type.value}: is required for entity type {entity_type.value}")
            if not self.source.has(entity_type):
                raise ValueError(f"source.{entity_type.value}: is required for entity type {entity_type.value}")
            if self.delta is not None and self.delta.enabled and not self.source.delta_capable(entity_type):
                field = "modified_column" if entity_type is EntityType.USERS else "groups.modified_column"
                raise ValueError(f"source.{field}: is required for delta reads (delta.enabled)")
        for entity_type, paths in self.mapping.items():
            if problems := path_problems(paths):
                raise ValueError(f"mapping.{entity_type.value}: " + "; ".join(problems))
        if "members" in self.mapping.get(EntityType.GROUPS, {}):
            raise ValueError("mapping.groups.members: is set by syncjobs from the source's members; do not map it")
        if EntityType.USERS in self.mapping and "userName" not in self.mapping[EntityType.USERS]:
            raise ValueError("mapping.users.userName: is required (SCIM's unique user key)")
        return self

    @property
    def phases(self) -> list[EntityType]:
        """The entity types in the order a run processes them: users first, so that a group's members
        can be resolved to the target ids of users provisioned earlier in the same run."""
        return [entity_type for entity_type in EntityType if entity_type in self.entity_types]

    def to_document(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Subscription(_Strict):
    job_id: str = Field(pattern=JOB_ID_PATTERN)
    email: EmailStr
    trigger: SubscriptionTrigger = SubscriptionTrigger.DEFAULT
