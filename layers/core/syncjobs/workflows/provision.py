"""Provision on demand: one entity of a job, now, through the engine, recorded as a small run.

The entity is read from the job's source (a CSV export is scanned shard by shard until its id turns up;
fine for one entity on demand), then the run is built as start_run builds one, with a single shard that
holds only that entity, and goes the way every run goes: the job's lock (create_locked: refused while
another run holds it), engine.shard.process_shard, the entity state, the part's outcome logs and its
count (workflows/parts.py), then finalize (merged logs, final status, the lock released; mails as the
subscriptions' rules say for any read run). The run is a read with trigger `provision` and read mode
delta: it read one entity, so like a delta read it never deletes anything.

A job that requires approval for writes refuses a provision: an approval binds one run previewed whole,
and a provision would be a write no one approved (the approval gate's own reason is given).

Runs in the run_shard function (invoked synchronously by the admin API): it holds the rights a run
needs (the source, the target's secret, the entity state, the logs); the admin API holds none of them.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from syncjobs.connectors.base import SourceRecord, SourceRowError
from syncjobs.connectors.csv_s3 import CsvSourceError
from syncjobs.connectors.registry import source_for
from syncjobs.connectors.scim_source import ScimSourceConnector, ScimSourceError
from syncjobs.deadline import Budget
from syncjobs.engine.approval_gate import write_refusal
from syncjobs.engine.provision_trace import Exchange, Observed, Provisioned, provisioned
from syncjobs.engine.shard import ShardResult, compile_mapping, process_shard
from syncjobs.models.job import JobDefinition
from syncjobs.models.outcome import OUTCOMES, EntityType
from syncjobs.models.run import (
    Phase,
    ReadMode,
    RunType,
    ShardMessage,
    ShardSpec,
    StartRequest,
    Trigger,
    shard_id,
)
from syncjobs.models.state import EntityState
from syncjobs.observability import logger
from syncjobs.store.entity_state import EntityStateStore
from syncjobs.store.errors import Conflict, NotFound
from syncjobs.store.jobs import JobStore
from syncjobs.store.locks import CreateResult
from syncjobs.store.runs import RunStore
from syncjobs.workflows.finalize import fail_run, finalize_run
from syncjobs.workflows.pacing import paced_target
from syncjobs.workflows.parts import count_part
from syncjobs.workflows.run_shard import keep_state, write_shard_part
from syncjobs.workflows.start_run import new_run


class ProvisionRefused(Conflict):
    """The job may not provision now (a run holds its lock, or its writes need an approval)."""


class NotInSource(NotFound):
    """The entity's id is not in the job's source."""


def find_entity(job: JobDefinition, entity_type: EntityType, entity_id: str, budget: Budget) -> tuple[ShardSpec, Any]:
    """The shard holding `entity_id` and its record (or its row's error), read from the source: a SCIM
    source is asked for that id; a CSV export is read shard by shard until the id turns up."""
    source = source_for(job, entity_type, budget)
    try:
        if isinstance(source, ScimSourceConnector):
            found = source.read_one(entity_id)
            if found is not None and found.entity_id == entity_id:
                one = ShardSpec(shard_id=shard_id(0), entity_type=entity_type, start=0, end=1, first_row=1)
                return one, found
            raise NotInSource(f"{entity_type.value} {entity_id} is not in the source of job {job.job_id}")
        for shard in source.plan(job.shard_size):
            for record in source.read(shard):
                if record.entity_id == entity_id:
                    return shard, record
    finally:
        source.close()
    raise NotInSource(f"{entity_type.value} {entity_id} is not in the source of job {job.job_id}")


class _Recorder:
    """The target's HTTP calls as exchanges, without their headers (an httpx response hook)."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def __call__(self, response: httpx.Response) -> None:
        response.read()
        request = response.request
        sent, answered = _json(request.content), _json(response.content)
        self.exchanges.append(Exchange(request.method, request.url.path, response.status_code, sent, answered))


def _json(data: bytes) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return data.decode(errors="replace")[:500]


def provision(job_id: str, entity_type_name: str, entity_id: str, requested_by: str, budget: Budget) -> Provisioned:
    """Provision one entity now; ProvisionRefused, NotFound (the job, or the entity in the source)."""
    job_record = JobStore().get(job_id)
    job = job_record.definition
    entity_type = EntityType(entity_type_name)
    if entity_type not in job.entity_types:
        raise NotFound(f"job {job_id} does not provision {entity_type.value}")
    request = StartRequest(
        job_id=job_id,
        run_type=RunType.READ,
        trigger=Trigger.PROVISION,
        triggered_by=requested_by,
        request_id=f"provision-{uuid.uuid4().hex}",
        requested_at=datetime.now(UTC),
    )
    refused = write_refusal(
        job_id=job_id,
        job_version=job_record.version,
        job_requires_approval=job.approval.required,
        run_type=request.run_type,
        request_id=request.request_id,
        approval_id=None,
        approval=None,
        step=None,
    )
    if refused is not None:
        raise ProvisionRefused(f"{refused}; a provision on demand is not approved one entity at a time")
    spec, record = find_entity(job, entity_type, entity_id, budget)
    run = new_run(request, job)
    runs = RunStore()
    if runs.create_locked(run, job) is CreateResult.JOB_BUSY:
        active = JobStore().get(job_id).active_run
        raise ProvisionRefused(f"job {job_id} has an active run {active}: provision it when that run has ended")
    spec = spec.model_copy(update={"shard_id": shard_id(0)})
    one_shard = [Phase(entity_type=entity_type, first=0, count=1)]
    runs.mark_running(run.run_id, one_shard, ReadMode.DELTA, {}, run.created_at)
    message = ShardMessage(run_id=run.run_id, job_id=job_id, shard=spec)
    stored: dict[str, EntityState] = {}
    recorder = _Recorder()
    try:
        result = _process(run.run_id, job, entity_type, record, budget, stored, recorder)
        keep_state(run, job, entity_type.value, result)
        attempt = write_shard_part(message, job, result)
        count_part(message, budget, spec.shard_id, attempt, result.counts(), result.first_failed_at, final=True)
        finalize_run(run.run_id, budget)
    except Exception as err:  # the lock is held: end the run with the reason, as start_run does
        logger.exception("provision failed", extra={"run_id": run.run_id, "job_id": job_id})
        if (held := runs.get(run.run_id)).run.status.is_active:
            fail_run(held, f"provision failed: {type(err).__name__}: {err}")
        raise
    ended = runs.get(run.run_id).run
    outcome = next(o for o in OUTCOMES if result.lines[o])
    logger.info("provisioned on demand", extra={"run_id": run.run_id, "job_id": job_id, "outcome": outcome.value})
    return provisioned(
        Observed(
            job_id=job_id,
            entity_type=entity_type.value,
            entity_id=entity_id,
            run_id=run.run_id,
            run_status=ended.status.value,
            row=record.row,
            scope=job.scope.get(entity_type),
            stored=stored.get(entity_id),
            outcome=outcome,
            line=result.lines[outcome][0],
            exchanges=recorder.exchanges,
            unreadable=isinstance(record, SourceRowError),
        )
    )


def _process(
    run_id: str,
    job: JobDefinition,
    entity_type: EntityType,
    record: SourceRecord | SourceRowError,
    budget: Budget,
    stored: dict[str, EntityState],
    recorder: _Recorder,
) -> ShardResult:
    """The entity through process_shard, as a read run's shard of one; `stored` gets the state it read."""
    states = EntityStateStore()
    type_name = entity_type.value

    def lookup_state(ids: list[str]) -> dict[str, EntityState]:
        stored.update(states.get_many(job.job_id, type_name, ids))
        return stored

    def lookup_members(ids: list[str]) -> dict[str, str]:
        return {e: s.target_id for e, s in states.get_many(job.job_id, EntityType.USERS.value, ids).items()}

    target = paced_target(job, budget, True)
    target._client._http.event_hooks["response"].append(recorder)  # the trace's only way in: no header is kept
    try:
        result = process_shard(
            run_id,
            type_name,
            RunType.READ,
            compile_mapping(job.mapping[entity_type], job.scope.get(entity_type), type_name),
            iter([record]),
            lookup_state,
            target,
            lookup_members=lookup_members if entity_type is EntityType.GROUPS else None,
            budget=budget,
            lookup_owners=lambda target_id: states.owner_of(job.job_id, type_name, target_id),
        )
    finally:
        target.close()
    return result


def provision_answer(payload: dict[str, Any], budget: Budget) -> dict[str, Any]:
    """What the run_shard function answers the admin API: {"provisioned": ...}, or a refusal it turns into
    its 409 ({"refused": reason}: the lock, the approval, a source that cannot be read) or 404
    ({"not_found": reason})."""
    try:
        done = provision(
            str(payload["job_id"]),
            str(payload["entity_type"]),
            str(payload["entity_id"]),
            str(payload.get("requested_by") or "unknown"),
            budget,
        )
    except ProvisionRefused as err:
        return {"refused": str(err)}
    except (CsvSourceError, ScimSourceError) as err:  # before the lock: nothing ran
        return {"refused": f"the source of job {payload['job_id']} could not be read: {err}"}
    except NotFound as err:
        return {"not_found": str(err)}
    return {"provisioned": done.model_dump(mode="json")}
