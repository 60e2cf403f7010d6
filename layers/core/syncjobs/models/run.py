"""Runs of a job, the shards they are cut into, and the messages that carry them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from syncjobs.models.outcome import OUTCOMES, EntityType, Outcome
from syncjobs.models.quarantine import Quarantine


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"  # SAP: Manually Terminated
    SUCCEEDED = "succeeded"
    FINISHED_WITH_ERRORS = "finished_with_errors"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES

    @property
    def is_active(self) -> bool:
        return self in ACTIVE_STATUSES


FINAL_STATUSES = frozenset(
    {RunStatus.STOPPED, RunStatus.SUCCEEDED, RunStatus.FINISHED_WITH_ERRORS, RunStatus.FAILED, RunStatus.SKIPPED}
)
ACTIVE_STATUSES = frozenset({RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.STOPPING})


class RunType(StrEnum):
    READ = "read"
    RESYNC = "resync"
    SIMULATE = "simulate"
    VALIDATE = "validate"


class ReadMode(StrEnum):
    FULL = "full"
    DELTA = "delta"
    FAILED_OF = "failed_of"  # only the failed entities of an earlier run (`Run.failed_of`): never deletes


class Trigger(StrEnum):
    SCHEDULE = "schedule"
    API = "api"
    CLI = "cli"
    COLLECTION = "collection"
    PROVISION = "provision"  # one entity provisioned on demand (workflows/provision.py)


Counts = dict[str, dict[str, int]]


def zero_counts(entity_types: list[EntityType]) -> Counts:
    return {entity_type.value: {outcome.value: 0 for outcome in OUTCOMES} for entity_type in entity_types}


def total_by_outcome(counts: Counts) -> dict[Outcome, int]:
    return {outcome: sum(per_type.get(outcome.value, 0) for per_type in counts.values()) for outcome in OUTCOMES}


class FailureSample(BaseModel):
    """One of the first failures of a run, shown in its details and in mails."""

    model_config = ConfigDict(frozen=True)

    entity_type: str
    entity_id: str
    reason: str


class StartRequest(BaseModel):
    """Why and how to start a run; the same whatever fired it (schedule, API, CLI, collection)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_id: str
    run_type: RunType = RunType.READ
    trigger: Trigger
    triggered_by: str = Field(min_length=1, max_length=256)
    request_id: str = Field(min_length=1, max_length=256, description="same id -> same run (dedup)")
    requested_at: datetime
    collection_run_id: str | None = Field(default=None, description="the collection run this run is a step of")
    collection_step: int | None = Field(default=None, ge=0)
    preview_of: str | None = Field(default=None, description="the approval request this simulate previews")
    approval_id: str | None = Field(default=None, description="the approved request this run carries out")
    failed_of: str | None = Field(default=None, description="process only the failed entities of this earlier run")


class Phase(BaseModel):
    """The shards of one entity type: ids first .. first+count-1. A phase is queued only when every
    earlier phase is counted (groups after users)."""

    model_config = ConfigDict(frozen=True)

    entity_type: EntityType
    first: int = Field(ge=0)
    count: int = Field(ge=0)

    def shard_ids(self) -> list[str]:
        return [shard_id(i) for i in range(self.first, self.first + self.count)]


SHARD_ID_PATTERN = r"^[0-9]{5,8}$"  # five digits at least (names sort as numbers below 100,000 shards)


def shard_id(index: int) -> str:
    """A shard's name: its index, five digits at least; 100,000 shards and more take six to eight (a job of
    10 million entities in shards of one)."""
    return f"{index:05d}"


def shard_order(shard: str) -> int:
    """Shards in planning order: by number, so that shard 100000 comes after 99999 (not after 09999...)."""
    return int(shard)


def run_id_for(request: StartRequest) -> str:
    """The same request (a redelivered event, a retried API call) always names the same run."""
    digest = hashlib.sha256(f"{request.job_id}\n{request.request_id}".encode()).hexdigest()[:10]
    return f"{request.requested_at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{digest}"


class Run(BaseModel):
    model_config = ConfigDict(extra="ignore")

    run_id: str
    job_id: str
    status: RunStatus
    run_type: RunType
    read_mode: ReadMode = ReadMode.FULL
    delta_since: dict[str, str] = Field(
        default_factory=dict, description="per entity type: a delta read reads what changed after this"
    )
    trigger: Trigger
    triggered_by: str
    request_id: str
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    progress_at: datetime | None = Field(
        default=None, description="last time the run moved: created, started, a shard or part counted"
    )
    stop_requested_at: datetime | None = None
    stop_requested_by: str | None = Field(default=None, description="who asked the run to stop (store/runs.py)")
    shards_total: int | None = None
    shards_done: int = 0
    deletes_done: int = 0  # delete batches counted whole (finalize fans large deletes out: workflows/delete_batch.py)
    counts: Counts = Field(default_factory=dict)
    first_failure_at: datetime | None = None
    failures: list[FailureSample] = Field(default_factory=list)
    reason: str | None = None
    job_name: str = ""
    source_name: str = ""
    target_name: str = ""
    log_keys: dict[str, str] = Field(default_factory=dict, description="outcome -> S3 key of its log")
    failure_streak_before: int = Field(default=0, description="failed runs in a row before this one")
    deletes_held: int = Field(default=0, description="deletes the threshold held back (recorded as failed)")
    deletes_note: str | None = Field(default=None, description="why this run deleted nothing, if it did not")
    deletes_allowed: int = Field(default=0, description="held deletes an admin allowed later that were applied")
    phases: list[Phase] = Field(default_factory=list, description="the shards of each entity type, in order")
    collection_run_id: str | None = None
    collection_step: int | None = None
    preview_of: str | None = None
    approval_id: str | None = None
    failed_of: str | None = Field(
        default=None, description="the earlier run whose failed entities this run processes (and only those)"
    )
    quarantined_before: bool = Field(default=False, description="the job was quarantined when this run ended")
    quarantine_notice: Quarantine | None = Field(
        default=None, description="this run put the job in quarantine, or changed why: the subscribers are told"
    )

    def totals(self) -> dict[Outcome, int]:
        return total_by_outcome(self.counts)

    def totals_by_name(self) -> dict[str, int]:
        """The totals keyed by the outcome's name, as mails, previews and collection steps show them."""
        return {outcome.value: n for outcome, n in self.totals().items()}


class ShardSpec(BaseModel):
    """A slice of the source a single run_shard invocation processes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shard_id: str = Field(pattern=SHARD_ID_PATTERN)
    entity_type: EntityType = EntityType.USERS
    start: int = Field(ge=0, description="first byte (CSV) or item offset")
    end: int = Field(ge=0, description="one past the last byte or item")
    first_row: int = Field(ge=1, description="1-based row number of the first record, for messages")
    first_line: int | None = Field(
        default=None,
        ge=1,
        description="CSV: physical line of the first record, for messages (a quoted field may hold line breaks, "
        "so lines and rows differ); none: the same as first_row",
    )
    header: list[str] = Field(default_factory=list)
    duplicates: dict[int, int] = Field(
        default_factory=dict, description="row -> the earlier row with the same id (this row fails)"
    )
    after: str | None = Field(default=None, description="keyed sources: ids greater than this (none: from the first)")
    until: str | None = Field(default=None, description="keyed sources: ids up to this one (none: to the last)")
    # SCIM source (connectors/scim_paging.py); all optional, so messages planned before them still read
    paging: str | None = Field(
        default=None, description="SCIM source: id-range or offset (none: id ranges, unreconciled)"
    )
    listed_total: int | None = Field(
        default=None, ge=0, description="SCIM source: entities the whole listing held when planning"
    )
    opening_id: str | None = Field(
        default=None, description="SCIM source by offset: the shard's first id when planning"
    )
    closing_id: str | None = Field(default=None, description="SCIM source by offset: the shard's last id when planning")
    plan_problem: str | None = Field(
        default=None, description="SCIM source: what did not add up when planning (the read is incomplete)"
    )


MAX_PARTS = 9999  # continuations of one shard (each one at least one entity further, or a Retry-After later)


class ShardMessage(BaseModel):
    """The SQS message body that asks run_shard to process one shard of one run, or the part of it
    that an earlier invocation could not finish in time (a continuation: `part` > 0, `shard` narrowed
    to the rest of the range)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    job_id: str
    shard: ShardSpec
    part: int = Field(default=0, ge=0, le=MAX_PARTS)
    waits: int = Field(default=0, ge=0)  # times in a row this part went back on the queue undone

    @property
    def part_id(self) -> str:
        """What the run counts once: the shard id, then `<shard>.<part>` for each continuation."""
        return part_name(self.shard.shard_id, self.part)

    def continuation(self, rest: ShardSpec) -> ShardMessage:
        return self.model_copy(update={"shard": rest, "part": self.part + 1, "waits": 0})

    def waiting(self) -> ShardMessage:
        """The same part again, after one more wait (see `wait_delay_s`)."""
        return self.model_copy(update={"waits": self.waits + 1})


class DeleteBatchMessage(BaseModel):
    """The SQS message that asks run_shard to make a slice of a run's delete plan (one entity type's
    pending deletes, `start` to `end`), or the rest of one an earlier invocation could not finish in
    time (`part` > 0). Numbered on after the run's shards (`shard_id`), so that its part sorts after
    them and is counted once like any part."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["deletes"] = "deletes"
    run_id: str
    job_id: str
    entity_type: EntityType
    plan_key: str = Field(min_length=1, description="the run's claimed delete plan (S3 key)")
    shard_id: str = Field(pattern=SHARD_ID_PATTERN)
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    part: int = Field(default=0, ge=0, le=MAX_PARTS)
    waits: int = Field(default=0, ge=0)

    @property
    def part_id(self) -> str:
        return part_name(self.shard_id, self.part)

    def continuation(self, start: int) -> DeleteBatchMessage:
        return self.model_copy(update={"start": start, "part": self.part + 1, "waits": 0})

    def waiting(self) -> DeleteBatchMessage:
        return self.model_copy(update={"waits": self.waits + 1})


def is_delete_batch(body: dict[str, Any]) -> bool:
    """Whether a queue message's body asks for deletes (else it is a ShardMessage)."""
    return body.get("kind") == "deletes"


MAX_WAIT_DELAY_S = 30


def wait_delay_s(waits: int, resume_after_s: float) -> float:
    """How long a part that went back on the queue undone waits: what the target asked, and at least
    a delay that doubles with each wait in a row (1, 2, 4 ... 30 s). Undone parts that came straight
    back would keep the workers busy with nothing but starting up, the very load that left them no time."""
    return max(resume_after_s, float(min(2 ** max(waits - 1, 0), MAX_WAIT_DELAY_S)))


def part_name(shard: str, part: int) -> str:
    return shard if part == 0 else f"{shard}.{part}"
