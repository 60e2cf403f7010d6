"""start_run: take the job's lock, plan shards, queue them. Safe to deliver twice."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from syncjobs.connectors.csv_s3 import CsvSourceError
from syncjobs.connectors.registry import source_for
from syncjobs.engine.delta import choose_read_mode
from syncjobs.models.job import JobDefinition, TraceLevel
from syncjobs.models.run import Run, RunStatus, ShardMessage, StartRequest, zero_counts
from syncjobs.observability import logger
from syncjobs.store.errors import NotFound, StoreError, TransientStoreError
from syncjobs.store.jobs import JobStore
from syncjobs.store.queue import ShardQueue
from syncjobs.store.runs import CreateResult, RunStore
from syncjobs.workflows.finalize import fail_run, finalize_run


def run_id_for(request: StartRequest) -> str:
    """The same request (a redelivered event, a retried API call) always names the same run."""
    digest = hashlib.sha256(f"{request.job_id}\n{request.request_id}".encode()).hexdigest()[:10]
    return f"{request.requested_at.astimezone(UTC):%Y%m%dT%H%M%SZ}-{digest}"


def with_trace_once(job: JobDefinition, outcomes: list[str]) -> JobDefinition:
    """The job as its next run executes it: one-shot content tracing folded into its trace settings."""
    if not outcomes:
        return job
    trace = job.trace.model_copy(update=dict.fromkeys(outcomes, TraceLevel.CONTENT))
    return job.model_copy(update={"trace": trace})


def _new_run(request: StartRequest, job: JobDefinition) -> Run:
    return Run(
        run_id=run_id_for(request),
        job_id=job.job_id,
        status=RunStatus.QUEUED,
        run_type=request.run_type,
        trigger=request.trigger,
        triggered_by=request.triggered_by,
        request_id=request.request_id,
        created_at=request.requested_at,
        counts=zero_counts(job.entity_types),
        job_name=job.name,
        source_name=_source_name(job),
        target_name=job.target.name,
    )


def _source_name(job: JobDefinition) -> str:
    return f"s3://{job.source.bucket}/{job.source.key}"


def start_run(request: StartRequest) -> Run:
    jobs, runs = JobStore(), RunStore()
    job_record = jobs.get(request.job_id)  # NotFound: an unknown job
    definition = with_trace_once(job_record.definition, job_record.trace_once)
    run = _new_run(request, definition)
    created = runs.create_locked(run, definition)
    if created is CreateResult.CREATED and job_record.trace_once:
        jobs.consume_trace_once(request.job_id, job_record.trace_once)

    if created is CreateResult.JOB_BUSY:
        active = jobs.get(request.job_id).active_run
        skipped = run.model_copy(
            update={
                "status": RunStatus.SKIPPED,
                "ended_at": datetime.now(UTC),
                "reason": f"job {request.job_id} has an active run {active}",
            }
        )
        runs.put_skipped(skipped, job_record.definition)
        logger.info("run skipped", extra={"run_id": run.run_id, "job_id": run.job_id, "active_run": active})
        return skipped

    record = runs.get(run.run_id)
    if created is CreateResult.ALREADY_EXISTS and not record.run.status.is_active:
        logger.info("duplicate start ignored", extra={"run_id": run.run_id, "status": record.run.status})
        return record.run
    job = record.job  # the definition this run executes, as stored with the run

    try:
        shards = source_for(job).plan(job.shard_size)
    except (CsvSourceError, NotFound) as err:
        logger.warning("run failed at planning", extra={"run_id": run.run_id, "error": str(err)})
        fail_run(record, f"planning failed: {err}")
        return runs.get(run.run_id).run
    except TransientStoreError:
        raise
    except StoreError as err:
        fail_run(record, f"planning failed: {err}")
        return runs.get(run.run_id).run

    mode, since = choose_read_mode(run.run_type, job.delta, job_record.watermark, job_record.delta_reads_since_full)
    runs.mark_running(run.run_id, len(shards), mode, since, datetime.now(UTC))
    if not shards:
        finalize_run(run.run_id)
    else:
        # On a redelivered start of a run that is already running, every shard is queued again;
        # shards already counted are dropped by run_shard, the others are safe to run twice.
        ShardQueue().send(
            [ShardMessage(run_id=run.run_id, job_id=job.job_id, shard=shard).model_dump_json() for shard in shards]
        )
    logger.info(
        "run started",
        extra={
            "run_id": run.run_id,
            "job_id": job.job_id,
            "shards": len(shards),
            "run_type": run.run_type,
            "trigger": run.trigger,
        },
    )
    return runs.get(run.run_id).run
