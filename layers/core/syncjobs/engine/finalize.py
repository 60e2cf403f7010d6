"""Rules that close a run: its final status and its first failures."""

from __future__ import annotations

from collections.abc import Iterable

from syncjobs.models.outcome import Outcome
from syncjobs.models.run import FailureSample, Run, RunStatus

MAX_FAILURES_SHOWN = 10  # SAP shows at most 10 failed entities in a job's details


def final_status(run: Run, added_failed: int = 0, dead_parts: int = 0) -> RunStatus:
    """`added_failed`: failures finalize itself added (failed or held-back deletes); `dead_parts`: shard
    parts that could not be processed at all (dead-lettered). A run with a dead part failed, whatever
    its other shards did: part of the source was never read (and nothing was deleted), which is what
    `job_fails` subscribers must hear of."""
    if run.status is RunStatus.STOPPING:
        return RunStatus.STOPPED
    if dead_parts:
        return RunStatus.FAILED
    if run.totals()[Outcome.FAILED] + added_failed > 0:
        return RunStatus.FINISHED_WITH_ERRORS
    return RunStatus.SUCCEEDED


def dead_reason(reasons: list[str]) -> str | None:
    """The run's reason when shard parts died: how many, and the first one's own reason."""
    if not reasons:
        return None
    if len(reasons) == 1:
        return reasons[0]
    return f"{len(reasons)} shard parts could not be processed; the first: {reasons[0]}"


def first_failures(per_shard: Iterable[list[FailureSample]]) -> list[FailureSample]:
    out: list[FailureSample] = []
    for samples in per_shard:
        out.extend(samples[: MAX_FAILURES_SHOWN - len(out)])
        if len(out) >= MAX_FAILURES_SHOWN:
            break
    return out
