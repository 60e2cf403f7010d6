"""How a collection run moves on when one of its steps ends: pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from syncjobs.models.collection import CollectionRun, OnFailure, StepState
from syncjobs.models.run import RunStatus

_WORDS = {
    RunStatus.FAILED: "failed",
    RunStatus.FINISHED_WITH_ERRORS: "finished with errors",
    RunStatus.STOPPED: "was stopped",
    RunStatus.SKIPPED: "was skipped",
}


@dataclass(frozen=True)
class StepEnd:
    index: int
    run_id: str
    status: RunStatus
    reason: str | None
    totals: dict[str, int]


@dataclass(frozen=True)
class Advance:
    """The collection run after a step ended: its steps, the next step to start, or its end."""

    steps: list[StepState]
    current: int  # the next step to start; len(steps) when none
    final: RunStatus | None  # set when the collection run ends
    reason: str | None


def after_step(crun: CollectionRun, end: StepEnd) -> Advance:
    steps = [s.model_copy() for s in crun.steps]
    step = steps[end.index]
    steps[end.index] = step.model_copy(
        update={"run_id": end.run_id, "status": end.status.value, "reason": end.reason, "totals": end.totals}
    )
    failed = end.status is not RunStatus.SUCCEEDED
    what = f"step {end.index + 1} ({step.job_id}) {_WORDS.get(end.status, end.status.value)}"
    if end.reason:
        what += f": {end.reason}"
    if crun.status is RunStatus.STOPPING:
        rest = _not_run(steps, end.index)
        return Advance(steps, len(steps), RunStatus.STOPPED, f"stopped by {crun.stop_requested_by or 'an admin'}{rest}")
    if failed and step.on_failure is OnFailure.ABORT:
        return Advance(steps, len(steps), RunStatus.FAILED, f"aborted: {what}{_not_run(steps, end.index)}")
    if end.index + 1 < len(steps):
        return Advance(steps, end.index + 1, None, None)
    failures = [
        f"step {i + 1} ({s.job_id}) {_WORDS.get(RunStatus(s.status), s.status)}"
        for i, s in enumerate(steps)
        if s.status != RunStatus.SUCCEEDED.value
    ]
    if failures:
        return Advance(steps, len(steps), RunStatus.FINISHED_WITH_ERRORS, "; ".join(failures) + " (continued)")
    return Advance(steps, len(steps), RunStatus.SUCCEEDED, None)


def _not_run(steps: list[StepState], index: int) -> str:
    """Mark the steps after `index` as not run; say which, for the reason."""
    later = range(index + 1, len(steps))
    for i in later:
        steps[i] = steps[i].model_copy(update={"status": "not_run"})
    if len(later) == 1:
        return f"; step {index + 2} did not run"
    return f"; steps {index + 2}-{len(steps)} did not run" if later else ""
