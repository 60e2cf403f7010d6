"""Which mail a run change deserves: SAP Identity Provisioning's notification semantics, as a pure function.

- "Running with Error" once per run, after its first failed entity, unless
  skip_intermediate_notifications.
- "Finished with Error" for a run that finished with failed entities, failed outright or was
  stopped; the first `ignored_consecutive_failures` failed runs of a streak send nothing, the next
  sends one, then silence until a success; `repeat_on_failure` sends one for every failed run.
- "Success" only for the first success after a failure streak that was reported.
- Only read and resync jobs notify.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from syncjobs.models.job import NotificationSettings
from syncjobs.models.run import RunStatus, RunType

FAILED_STATUSES = frozenset({RunStatus.FINISHED_WITH_ERRORS, RunStatus.FAILED, RunStatus.STOPPED})
NOTIFYING_TYPES = frozenset({RunType.READ, RunType.RESYNC})


class MailKind(StrEnum):
    RUNNING_WITH_ERROR = "running_with_error"
    FINISHED_WITH_ERROR = "finished_with_error"
    SUCCESS = "success"


class Change(StrEnum):
    FIRST_FAILURE = "first_failure"
    FINISHED = "finished"


@dataclass(frozen=True)
class Decision:
    kind: MailKind | None  # None: nothing to say about this change
    send: bool
    reason: str


def change_of(old: dict[str, Any] | None, new: dict[str, Any]) -> Change | None:
    """What a run item's stream record means for notifications, from its old and new images."""
    old = old or {}
    new_status, old_status = RunStatus(new["status"]), (RunStatus(old["status"]) if "status" in old else None)
    if new_status.is_final and new_status is not RunStatus.SKIPPED and old_status != new_status:
        return Change.FINISHED
    if new.get("first_failure_at") and not old.get("first_failure_at") and new_status.is_active:
        return Change.FIRST_FAILURE
    return None


def decide(
    settings: NotificationSettings, run_type: RunType, change: Change, status: RunStatus, streak_before: int
) -> Decision:
    """`streak_before`: failed runs in a row before this one."""
    if run_type not in NOTIFYING_TYPES:
        return Decision(None, False, f"{run_type.value} runs do not notify (only read and resync)")

    if change is Change.FIRST_FAILURE:
        if settings.skip_intermediate_notifications:
            return Decision(MailKind.RUNNING_WITH_ERROR, False, "skip_intermediate_notifications is on")
        return Decision(MailKind.RUNNING_WITH_ERROR, True, "first failed entity of the run")

    ignored = settings.ignored_consecutive_failures
    if status in FAILED_STATUSES:
        position = streak_before + 1
        if settings.repeat_on_failure:
            return Decision(MailKind.FINISHED_WITH_ERROR, True, "repeat_on_failure: every failed run is reported")
        if position <= ignored:
            return Decision(
                MailKind.FINISHED_WITH_ERROR,
                False,
                f"failed run {position} of the streak; the first {ignored} are ignored",
            )
        if position == ignored + 1:
            return Decision(MailKind.FINISHED_WITH_ERROR, True, f"failed run {position} of the streak is reported")
        return Decision(
            MailKind.FINISHED_WITH_ERROR,
            False,
            f"failed run {position} of the streak; already reported at run {ignored + 1}",
        )

    if status is RunStatus.SUCCEEDED:
        if streak_before == 0:
            return Decision(MailKind.SUCCESS, False, "ordinary success after a success")
        if settings.repeat_on_failure or streak_before > ignored:
            return Decision(MailKind.SUCCESS, True, f"first success after {streak_before} failed run(s)")
        return Decision(MailKind.SUCCESS, False, f"the {streak_before} failed run(s) before were ignored, not reported")
    return Decision(None, False, f"status {status.value} does not notify")
