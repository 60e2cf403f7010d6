"""Collection runs: start the first step, and start each next one when the step before has ended.

The first step starts within start_run; every later one is started by the advance function when the
stream shows the step's run at its final status (at-least-once: a redelivered end records nothing
twice, and asks start_run again for the very same run, which start_run ignores).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta

from syncjobs.engine.collections import StepEnd, after_step
from syncjobs.models.collection import CollectionRun, CollectionStartRequest, StepState, collection_run_id_for
from syncjobs.models.events import StartEvent
from syncjobs.models.run import Run, RunStatus, StartRequest, Trigger, run_id_for
from syncjobs.observability import logger, without_addresses
from syncjobs.store.collections import CollectionStore
from syncjobs.store.errors import Conflict, NotFound
from syncjobs.store.functions import Functions
from syncjobs.store.locks import CreateResult
from syncjobs.store.runs import RunStore

StartStep = Callable[[StartRequest], object]


def new_collection_run(request: CollectionStartRequest, name: str, steps: list[StepState]) -> CollectionRun:
    return CollectionRun(
        collection_run_id=collection_run_id_for(request),
        collection_id=request.collection_id,
        name=name,
        status=RunStatus.RUNNING,
        run_type=request.run_type,
        trigger=request.trigger,
        triggered_by=request.triggered_by,
        request_id=request.request_id,
        created_at=request.requested_at,
        steps=steps,
        preview_of=request.preview_of,
        approval_id=request.approval_id,
    )


def start_collection(request: CollectionStartRequest, start_step: StartStep) -> CollectionRun:
    """Create the collection run (one at a time per collection) and start its first step."""
    store = CollectionStore()
    definition = store.get(request.collection_id).definition  # NotFound: an unknown collection
    steps = [StepState(job_id=s.job_id, on_failure=s.on_failure) for s in definition.steps]
    crun = new_collection_run(request, definition.name, steps)
    created = store.create_run_locked(crun, definition)
    if created is CreateResult.JOB_BUSY:
        active = store.get(request.collection_id).active_run
        skipped = crun.model_copy(
            update={
                "status": RunStatus.SKIPPED,
                "ended_at": datetime.now(UTC),
                "reason": f"collection {request.collection_id} has an active run {active}",
            }
        )
        store.put_skipped_run(skipped, definition)
        logger.info("collection run skipped", extra={"collection_run_id": crun.collection_run_id, "active": active})
        return skipped
    if created is CreateResult.ALREADY_EXISTS:
        crun = store.get_run(crun.collection_run_id).run
        if crun.status.is_final or crun.current > 0:
            return crun  # a redelivered start: the steps carry it on
    start_step(step_request(crun, 0, crun.created_at))
    logger.info("collection run started", extra={"collection_run_id": crun.collection_run_id, "steps": len(steps)})
    return crun


def step_request(crun: CollectionRun, index: int, at: datetime) -> StartRequest:
    """The start of step `index`: the same every time it is asked for (it names one run)."""
    return StartRequest(
        job_id=crun.steps[index].job_id,
        run_type=crun.run_type,
        trigger=Trigger.COLLECTION,
        triggered_by=f"collection {crun.collection_id} (run {crun.collection_run_id}, step {index + 1})",
        request_id=f"{crun.collection_run_id}#step{index}",
        requested_at=at,
        collection_run_id=crun.collection_run_id,
        collection_step=index,
    )


def start_step_async(request: StartRequest) -> None:
    """Ask start_run for a step's run (an asynchronous Lambda invoke, as a schedule does)."""
    Functions().start_run_async(StartEvent.of(request).payload())


def step_ended(run: Run, start_step: StartStep = start_step_async) -> CollectionRun | None:
    """A step's run reached its final status: record it, then start the next step or end the collection."""
    if run.collection_run_id is None or run.collection_step is None or not run.status.is_final:
        return None
    store = CollectionStore()
    crun = store.get_run(run.collection_run_id).run
    index = run.collection_step
    if crun.status.is_final or index >= len(crun.steps) or index > crun.current:
        return crun
    if crun.current == index:
        advance = after_step(crun, StepEnd(index, run.run_id, run.status, run.reason, run.totals_by_name()))
        if advance.final is not None:
            store.finish(crun, index, advance, datetime.now(UTC))
            logger.info(
                "collection run finished",
                extra={
                    "collection_run_id": crun.collection_run_id,
                    "status": advance.final,
                    "reason": without_addresses(advance.reason or ""),
                },
            )
            return store.get_run(crun.collection_run_id).run
        store.record_step(crun, index, advance)
        crun = store.get_run(crun.collection_run_id).run
    if crun.current == index + 1 and not crun.status.is_final:
        # recorded now or by an earlier delivery: (again) ask for the next step's run
        start_step(step_request(crun, index + 1, run.ended_at or run.created_at))
    return crun


def step_runs(crun: CollectionRun) -> list[Run]:
    """The runs of a collection run's steps, in step order (steps not started have none)."""
    runs = RunStore()
    return [runs.get(step.run_id).run for step in crun.steps if step.run_id]


def step_not_started(request: StartRequest, reason: str) -> None:
    """A step whose run cannot even be created (its job was deleted): the step failed, and the
    collection moves on (or aborts) as for any failed step."""
    if request.collection_run_id is None or request.collection_step is None:
        return
    now = datetime.now(UTC)
    failed = Run(
        run_id=f"{request.collection_run_id}-step{request.collection_step}",
        job_id=request.job_id,
        status=RunStatus.FAILED,
        run_type=request.run_type,
        trigger=request.trigger,
        triggered_by=request.triggered_by,
        request_id=request.request_id,
        created_at=request.requested_at,
        ended_at=now,
        reason=reason,
        collection_run_id=request.collection_run_id,
        collection_step=request.collection_step,
    )
    step_ended(failed)


def stop_collection_run(collection_run_id: str, requested_by: str) -> CollectionRun:
    """Stop a collection run: the step running now is asked to stop, and no later step starts; the
    collection run ends `stopped` when that step's run has ended. Conflict if it is already over."""
    now = datetime.now(UTC)
    crun = CollectionStore().request_stop(collection_run_id, requested_by, now)
    run_id = current_step_run(crun)
    if run_id is not None:
        # the step's run may have ended (or not be written yet): then its end stops the collection
        with suppress(Conflict, NotFound):
            RunStore().request_stop(run_id, requested_by, now)
    logger.info("collection run stopping", extra={"collection_run_id": collection_run_id, "step_run": run_id})
    return crun


def current_step_run(crun: CollectionRun) -> str | None:
    """The id of the run the step running now has (or will have): step requests name their runs."""
    step = _current_step(crun)
    return run_id_for(step) if step is not None else None


def _current_step(crun: CollectionRun) -> StartRequest | None:
    index = crun.current
    if index >= len(crun.steps):
        return None
    at = crun.created_at
    if index > 0:
        before = crun.steps[index - 1].run_id
        try:
            ended = RunStore().get(before).run.ended_at if before else None
        except NotFound:
            return None  # the step before never had a run (its job was gone)
        at = ended or at
    return step_request(crun, index, at)


QUIET = timedelta(minutes=10)


def redrive(now: datetime, start_step: StartStep = start_step_async) -> list[str]:
    """Collection runs whose move to the next step was lost: the step's start (an asynchronous invoke
    Lambda dropped after its retries), or its end (a stream record dropped after its retries). Asks
    again, as the advance function would have; returns the collection runs it moved."""
    store, runs, moved = CollectionStore(), RunStore(), []
    for record in store.every():
        if record.active_run is None:
            continue
        try:
            crun = store.get_run(record.active_run).run
        except NotFound:
            continue
        step = _current_step(crun)
        if crun.status.is_final or step is None:
            continue
        try:
            run = runs.get(run_id_for(step)).run
        except NotFound:
            if now - step.requested_at >= QUIET:  # not just on its way: the start was lost
                start_step(step)
                moved.append(crun.collection_run_id)
            continue
        if run.status.is_final:
            step_ended(run, start_step)
            moved.append(crun.collection_run_id)
    if moved:
        logger.info("collection runs moved on by the sweep", extra={"collection_run_ids": moved})
    return moved
