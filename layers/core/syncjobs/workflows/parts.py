"""Parts of a run (a shard's, or a delete batch's) and what they share: what one attempt leaves in S3
before it is counted (its outcome logs, the id lists finalize reads, the manifest that names them),
sending a part (again, or its continuation) on the queue, and moving the run on once it is counted.

Each attempt writes under its own attempt id, so a second attempt never overwrites the first; the
attempt the run counts (RunStore.complete_shard) is the one whose objects finalize merges."""

from __future__ import annotations

import functools
import json
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, Self, TypeVar

from syncjobs.deadline import Budget, OutOfTime
from syncjobs.engine.outcome_log import LogLine, encode
from syncjobs.models.job import JobDefinition
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import Counts, DeleteBatchMessage, ShardMessage, is_delete_batch, wait_delay_s
from syncjobs.observability import logger
from syncjobs.settings import get_settings
from syncjobs.store.errors import Conflict, StoreError
from syncjobs.store.functions import Functions
from syncjobs.store.objects import LogObjects, error_key, part_key
from syncjobs.store.queue import MAX_DELAY_S, ShardQueue
from syncjobs.store.runs import RunRecord, RunStore
from syncjobs.workflows.finalize import MANIFEST
from syncjobs.workflows.phases import advance


def write_part(
    run_id: str,
    part_id: str,
    job: JobDefinition,
    lines: Mapping[Outcome, Sequence[LogLine]],
    manifest: Mapping[str, Any],
    id_lists: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """Write an attempt's outcome logs (one object per outcome with lines), its non-empty id lists (name
    -> ids) and its manifest (`manifest` plus the outcomes written); returns the attempt id."""
    attempt = uuid.uuid4().hex[:12]
    logs = LogObjects()
    written = []
    for outcome, of_outcome in lines.items():
        data = encode(list(of_outcome), getattr(job.trace, outcome.value), job.log_format)
        if data:
            logs.put(part_key(run_id, part_id, attempt, f"{outcome.value}.{job.log_format}"), data)
            written.append(outcome.value)
    for name, ids in (id_lists or {}).items():
        if ids:
            logs.put(part_key(run_id, part_id, attempt, name), "\n".join(ids).encode())
    logs.put(part_key(run_id, part_id, attempt, MANIFEST), json.dumps({"outcomes": written, **manifest}).encode())
    return attempt


FINALIZE_HERE_MIN_S = 30.0  # a shorter invocation hands finalize to the advance function


class QueuedPart(Protocol):
    """A queue message for one part: a shard's (ShardMessage) or a delete batch's (DeleteBatchMessage)."""

    @property
    def run_id(self) -> str: ...

    @property
    def waits(self) -> int: ...

    @property
    def part(self) -> int: ...

    @property
    def part_id(self) -> str: ...

    def waiting(self) -> Self: ...

    def model_dump_json(self) -> str: ...


def requeue_undone(message: QueuedPart, resume_after_s: float) -> str:
    """Nothing of the part was done (the target asked to wait, or the time ran out first): there is
    nothing to count, so the same message goes back on the queue, delayed as the target asked or
    backing off (`wait_delay_s`). One call instead of recording an empty part (logs, manifest, count)
    and its continuation: under load, empty parts would add to the very slowness that left no time for work."""
    again = message.waiting()
    delay_s = wait_delay_s(again.waits, resume_after_s)
    send_part(again, delay_s)
    logger.info(
        "part waits",
        extra={"run_id": message.run_id, "shard": message.part_id, "resume_after_s": delay_s, "waits": again.waits},
    )
    return "requeued"


def send_part(message: QueuedPart, resume_after_s: float) -> None:
    ShardQueue().send([message.model_dump_json()], delay_s=min(MAX_DELAY_S, math.ceil(resume_after_s)))


def advance_after(record: RunRecord, message: QueuedPart, budget: Budget) -> None:
    """Move the run on after a part; a finalize that may not fit in what is left of this invocation is
    handed to the advance function (see `may_finalize_in`)."""
    try:
        handed_on = advance(record, may_finalize=may_finalize_in(budget), budget=budget)
    except OutOfTime:  # the log merge goes on in the advance function, from its saved progress
        handed_on = True
    if handed_on:
        logger.info("finalize handed on", extra={"run_id": record.run.run_id, "shard": message.part_id})
        Functions().finalize_async(record.run.run_id)


def may_finalize_in(budget: Budget) -> bool:
    """Finalize here only in a fresh invocation of a function given at least FINALIZE_HERE_MIN_S: a
    short one (a test's scaled-down Timeout) could not merge a large run's logs in time, and would be
    killed on every retry; the advance function has its own, longer Timeout."""
    return budget.total_s >= FINALIZE_HERE_MIN_S and budget.fresh()


def resend_continuation(record: RunRecord, message: QueuedPart, attempt: str | None = None) -> None:
    """A copy of a counted part: send its continuation again unless that is counted too (the worker that
    counted the part may have died before sending it; a second copy is dropped when it is counted).
    `attempt`: the counted attempt, when the caller has read it already."""
    runs = RunStore()
    attempt = attempt or runs.attempt_of(record, message.part_id)
    if attempt is None:
        return
    manifest = json.loads(LogObjects().get(part_key(record.run.run_id, message.part_id, attempt, MANIFEST)))
    body = manifest.get("continuation")
    if body is None:
        return
    continuation = queued_part(body)
    if not runs.is_counted(record, continuation.part_id) and runs.claim_resend(record.run.run_id, continuation.part_id):
        logger.info("continuation sent again", extra={"run_id": record.run.run_id, "shard": continuation.part_id})
        send_part(continuation, 0)


def queued_part(body: dict[str, Any]) -> ShardMessage | DeleteBatchMessage:
    """A part's queue message from its JSON body."""
    if is_delete_batch(body):
        return DeleteBatchMessage.model_validate(body)
    return ShardMessage.model_validate(body)


MAX_ERROR_CHARS = 500


def record_error(message: QueuedPart, err: Exception) -> None:
    """Keep a part's error before it is raised (the message is then received again): when every receive
    fails, the dead-letter handler quotes it as the reason (workflows/dead_shard.py)."""
    text = f"{type(err).__name__}: {err}"[:MAX_ERROR_CHARS]
    try:
        LogObjects().put(error_key(message.run_id, message.part_id), text.encode())
    except StoreError:
        logger.exception("could not record the part's error", extra={"run_id": message.run_id})


def already_done(record: RunRecord, message: QueuedPart, budget: Budget) -> str | None:
    """What a delivered part is, if it is not to be worked on: "run_over", or "duplicate" (already counted;
    its continuation is sent again and the run moved on, in case the worker that counted it died first)."""
    if not record.run.status.is_active:
        return "run_over"
    attempt = RunStore().attempt_of(record, message.part_id)  # one read: counted, and whose manifest
    if attempt is None and message.part_id not in record.legacy_done:
        return None
    logger.info("part already counted", extra={"run_id": record.run.run_id, "shard": message.part_id})
    if attempt is not None:
        resend_continuation(record, message, attempt)
    advance_after(record, message, budget)
    return "duplicate"


Part = TypeVar("Part", bound=QueuedPart)


def part_worker(work: Callable[[Part, RunRecord, Budget], str]) -> Callable[[Part, Budget | None], str]:
    """A part's worker as the queue handler calls it: within the invocation's budget (unbounded when there
    is none or continuations are off), only for a part of an active run not yet counted (see
    `already_done`), and recording the error of a part that raises before the message is received again:
    when every receive fails, the dead-letter handler quotes it as the reason (workflows/dead_shard.py)."""

    @functools.wraps(work)
    def worker(message: Part, budget: Budget | None = None) -> str:
        try:
            if budget is None or not get_settings().continuations:
                budget = Budget.unlimited()
            record = RunStore().get(message.run_id)
            if (done := already_done(record, message, budget)) is not None:
                return done
            return work(message, record, budget)
        except Exception as err:
            record_error(message, err)
            raise

    return worker


def count_part(
    message: QueuedPart,
    budget: Budget,
    shard_id: str,
    attempt: str,
    counts: Counts,
    failed_at: datetime | None,
    final: bool,
    deletes: bool = False,
) -> RunRecord | None:
    """Count the part's attempt once (RunStore.complete_shard); the run afterwards, or None when another
    attempt counted it first: if that one's worker dies before sending the continuation, and this copy's
    success deletes the message, nothing else would send it, so it is sent again (at most a few times) and
    the run moved on."""
    runs = RunStore()
    try:
        return runs.complete_shard(
            message.run_id, shard_id, attempt, counts, failed_at, message.part, final=final, deletes=deletes
        )
    except Conflict:
        logger.info("part counted by another attempt", extra={"run_id": message.run_id, "shard": message.part_id})
        counted = runs.get(message.run_id)
        resend_continuation(counted, message)
        advance_after(counted, message, budget)
        return None
