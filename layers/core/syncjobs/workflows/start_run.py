"""start_run: take the job's lock, check what cannot succeed on retry, plan shards, queue them.

Safe to deliver twice. Once it holds the lock, every way out ends the run or leaves it to a retry
that carries it on: a problem found by the preflight or the planning, or any error that retrying
cannot heal, fails the run with the reason (and releases the lock); a throttled AWS call raises, and
Lambda's retry (or, when those run out, functions/start_run_failed) takes over."""

from __future__ import annotations

from datetime import UTC, datetime

from syncjobs.connectors.csv_s3 import CsvSourceError
from syncjobs.connectors.registry import source_for
from syncjobs.connectors.scim_source import ScimSourceError
from syncjobs.engine import failed_of
from syncjobs.engine.delta import choose_read_mode
from syncjobs.engine.phases import number_phases
from syncjobs.engine.quarantine import skip_reason
from syncjobs.models.job import JobDefinition, TraceLevel
from syncjobs.models.outcome import EntityType
from syncjobs.models.run import ReadMode, Run, RunStatus, ShardSpec, StartRequest, Trigger, run_id_for, zero_counts
from syncjobs.observability import logger
from syncjobs.store.collections import CollectionStore
from syncjobs.store.errors import NotFound, StoreError, TransientStoreError
from syncjobs.store.jobs import JobRecord, JobStore
from syncjobs.store.locks import CreateResult
from syncjobs.store.objects import LogObjects
from syncjobs.store.runs import RunStore
from syncjobs.workflows.approvals import write_refused
from syncjobs.workflows.collections import step_not_started
from syncjobs.workflows.finalize import fail_run
from syncjobs.workflows.phases import advance, save_plans
from syncjobs.workflows.preflight import start_problems


def with_trace_once(job: JobDefinition, outcomes: list[str]) -> JobDefinition:
    """The job as its next run executes it: one-shot content tracing folded into its trace settings."""
    if not outcomes:
        return job
    trace = job.trace.model_copy(update=dict.fromkeys(outcomes, TraceLevel.CONTENT))
    return job.model_copy(update={"trace": trace})


def new_run(request: StartRequest, job: JobDefinition, now: datetime | None = None) -> Run:
    """The run a request starts. Its progress starts now, not at the request's time: an event delivered
    late (an async retry hours after the fire, a simulated scheduler's clock) is not a stalled run."""
    return Run(
        run_id=run_id_for(request),
        job_id=job.job_id,
        status=RunStatus.QUEUED,
        run_type=request.run_type,
        trigger=request.trigger,
        triggered_by=request.triggered_by,
        request_id=request.request_id,
        created_at=request.requested_at,
        progress_at=now or datetime.now(UTC),
        counts=zero_counts(job.entity_types),
        collection_run_id=request.collection_run_id,
        collection_step=request.collection_step,
        preview_of=request.preview_of,
        approval_id=request.approval_id,
        failed_of=request.failed_of,
        job_name=job.name,
        source_name=job.source.display_name,
        target_name=job.target.name,
    )


def _scheduled(request: StartRequest) -> bool:
    """Fired by a schedule: the job's own rule, or a scheduled collection's step (quarantine holds
    those back; an admin's run goes through)."""
    if request.trigger is Trigger.SCHEDULE:
        return True
    if request.collection_run_id is None:
        return False
    try:
        return CollectionStore().get_run(request.collection_run_id).run.trigger is Trigger.SCHEDULE
    except NotFound:
        return False


def _skip(run: Run, job: JobDefinition, reason: str, why: str) -> Run:
    """Record a fire that does not run (the job is busy or quarantined); a redelivered fire records nothing new.
    `why` is what the log says: the reason may quote an entity's failure (personal data)."""
    skipped = run.model_copy(update={"status": RunStatus.SKIPPED, "ended_at": datetime.now(UTC), "reason": reason})
    RunStore().put_skipped(skipped, job)
    logger.info("run skipped", extra={"run_id": run.run_id, "job_id": run.job_id, "why": why})
    return skipped


def _refuse(run: Run, job: JobDefinition, reason: str) -> Run:
    """Record a start the approval gate refused as a failed run with the reason (it took no lock and
    wrote nothing; a collection's step ends with it). A redelivered start records nothing new."""
    refused = run.model_copy(update={"status": RunStatus.FAILED, "ended_at": datetime.now(UTC), "reason": reason})
    RunStore().put_skipped(refused, job)
    logger.warning("run refused by the approval gate", extra={"run_id": run.run_id, "job_id": run.job_id})
    return refused


def _plan(job: JobDefinition, entity_type: EntityType) -> list[ShardSpec]:
    source = source_for(job, entity_type)
    try:
        return source.plan(job.shard_size)
    finally:
        source.close()


def start_run(request: StartRequest) -> Run:
    jobs, runs = JobStore(), RunStore()
    try:
        job_record = jobs.get(request.job_id)  # NotFound: an unknown job
    except NotFound as err:
        if request.collection_run_id is None:
            raise
        step_not_started(request, str(err))  # a collection's step whose job is gone: the step failed
        raise
    definition = with_trace_once(job_record.definition, job_record.trace_once)
    run = new_run(request, definition)
    refused = write_refused(request, job_record.version, job_record.definition.approval)
    if refused is not None:
        return _refuse(run, definition, refused)
    held = skip_reason(job_record.quarantine, request.requested_at)
    if held is not None and _scheduled(request):
        return _skip(run, definition, held, "quarantined")
    created = runs.create_locked(run, definition)
    if created is CreateResult.JOB_BUSY:
        active = jobs.get(request.job_id).active_run
        return _skip(run, definition, f"job {request.job_id} has an active run {active}", f"busy with run {active}")
    try:
        return _locked(request, run, job_record, created)
    except TransientStoreError:
        # Throttled or unavailable: the invocation fails and is retried (Lambda's async retries, then
        # the on-failure destination, functions/start_run_failed). A retry is safe: the same request
        # names the same run, which is still active, so it carries on from where this one stopped.
        raise
    except Exception as err:
        # Nothing else heals on retry, and the job's lock is held: end the run, with the reason.
        logger.exception("run failed at start", extra={"run_id": run.run_id, "job_id": run.job_id})
        return _fail(run.run_id, f"start failed: {type(err).__name__}: {err}")


def _fail(run_id: str, reason: str) -> Run:
    """End a run that cannot start (failed, the reason, the lock released, a mail as for any failed run)."""
    runs = RunStore()
    record = runs.get(run_id)
    if record.run.status.is_active:
        fail_run(record, reason)
    return runs.get(run_id).run


def _keep_failed_ids(run: Run) -> str | None:
    """Save the ids of the earlier run's failed log for the shards to read (engine/failed_of.py);
    or why this run cannot go on. The admin API checked the earlier run when the run was asked for;
    this checks again (a redelivered or older event) and reads its log, which may have expired since."""
    assert run.failed_of is not None
    try:
        earlier = RunStore().get(run.failed_of).run
    except NotFound:
        return f"failed_of: run {run.failed_of} not found"
    refused = failed_of.refusal(earlier, run.job_id)
    if refused is not None:
        return refused[1]
    logs = LogObjects()
    try:
        body = logs.get(earlier.log_keys["failed"])
    except NotFound:
        return f"failed_of: the failed log of run {earlier.run_id} is gone (logs expire)"
    ids = failed_of.failed_ids(body, "jsonl" if earlier.log_keys["failed"].endswith(".jsonl") else "csv")
    if not ids:
        return f"failed_of: the failed log of run {earlier.run_id} names no entity (rows without an id)"
    logs.put(failed_of.ids_key(run.run_id), failed_of.dump(ids))
    return None


def _locked(request: StartRequest, run: Run, job_record: JobRecord, created: CreateResult) -> Run:
    """Everything start_run does once it holds the job's lock (and the run item exists)."""
    jobs, runs = JobStore(), RunStore()
    record = runs.get(run.run_id)
    if created is CreateResult.ALREADY_EXISTS and not record.run.status.is_active:
        logger.info("duplicate start ignored", extra={"run_id": run.run_id, "status": record.run.status})
        return record.run
    job = record.job  # the definition this run executes, as stored with the run

    if record.run.phases or record.queued_phases:
        # a redelivered start of a run already planned: its plan stands (the source may have changed)
        advance(record)
        return runs.get(run.run_id).run
    if job_record.trace_once:  # this run took it (a retry of a start that failed before this point too)
        jobs.consume_trace_once(request.job_id, job_record.trace_once)

    problems = start_problems(job, run.run_type)
    if problems:
        logger.warning("run failed its preflight", extra={"run_id": run.run_id, "problems": len(problems)})
        return _fail(run.run_id, "; ".join(problems))
    if run.failed_of is not None and (why := _keep_failed_ids(run)) is not None:
        logger.warning("run failed: no failed ids to retry", extra={"run_id": run.run_id, "failed_of": run.failed_of})
        return _fail(run.run_id, why)

    try:
        planned = [(entity_type, _plan(job, entity_type)) for entity_type in job.phases]
    except (CsvSourceError, ScimSourceError, NotFound) as err:
        logger.warning("run failed at planning", extra={"run_id": run.run_id, "error": str(err)})
        return _fail(run.run_id, f"planning failed: {err}")
    except TransientStoreError:
        raise
    except StoreError as err:
        return _fail(run.run_id, f"planning failed: {err}")

    phases, shards = number_phases(planned)
    save_plans(run.run_id, {p.entity_type.value: shards[p.first : p.first + p.count] for p in phases})
    types = [t.value for t in job.phases]
    mode, since = choose_read_mode(
        run.run_type, job.delta, job_record.watermarks, job_record.delta_reads_since_full, types
    )
    if run.failed_of is not None:
        mode, since = ReadMode.FAILED_OF, {}  # only some ids: no deletes, the watermarks stay
    runs.mark_running(run.run_id, phases, mode, since, datetime.now(UTC))
    advance(runs.get(run.run_id))
    logger.info(
        "run started",
        extra={
            "run_id": run.run_id,
            "job_id": job.job_id,
            "shards": {p.entity_type.value: p.count for p in phases},
            "run_type": run.run_type,
            "trigger": run.trigger,
        },
    )
    return runs.get(run.run_id).run
