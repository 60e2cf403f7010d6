"""Which mails a run change deserves, per subscription: a pure function of (policy, history, transition).

The job's default policy is SAP Identity Provisioning's:
- "Running with Error" once per run, after its first failed entity, unless
  skip_intermediate_notifications.
- "Finished with Error" for a run that finished with failed entities, failed outright or was
  stopped; the first `ignored_consecutive_failures` failed runs of a streak send nothing, the next
  sends one, then silence until a success; `repeat_on_failure` sends one for every failed run (and
  overrides the ignored count).
- "Success" only for the first success after a failure streak that was reported.
- By default only read and resync runs notify (`notify_run_types`).

A subscription may instead use one of Netwrix Directory Manager's triggers, each judged on the
finished run alone: always; records are updated (created, updated or deleted > 0); one or more errors
occur (failed entities, or the run failed); job fails (the run failed outright).

Entra adds a mail when the delete threshold held deletes back (default policy, always and errors), and
a one-time mail when a job is quarantined (again only if the reason changes; while quarantined,
the default policy reports no more failed runs), and a cap of one mail per recipient per job per 24
hours (`max_one_mail_per_day`) that holds the others back and lists them in the next one that goes
out; see `cap`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from syncjobs.models.job import NotificationSettings, SubscriptionTrigger
from syncjobs.models.run import RunStatus, RunType
from syncjobs.notify.words import plural

FAILED_STATUSES = frozenset({RunStatus.FINISHED_WITH_ERRORS, RunStatus.FAILED, RunStatus.STOPPED})
CAP_WINDOW = timedelta(hours=24)


class MailKind(StrEnum):
    RUNNING_WITH_ERROR = "running_with_error"
    FINISHED_WITH_ERROR = "finished_with_error"
    SUCCESS = "success"
    DELETES_HELD = "deletes_held"
    QUARANTINED = "quarantined"


class Change(StrEnum):
    FIRST_FAILURE = "first_failure"
    FINISHED = "finished"


@dataclass(frozen=True)
class Transition:
    """What just happened to a run, and the job's history before it."""

    change: Change
    run_type: RunType
    status: RunStatus
    streak_before: int = 0  # failed runs in a row before this one
    changed_records: int = 0  # created + updated + deleted
    failed_entities: int = 0
    deletes_held: int = 0
    quarantine_notice: bool = False  # this run put the job in quarantine or changed its reason
    quarantined_before: bool = False  # the job was already quarantined when this run began


@dataclass(frozen=True)
class Decision:
    kind: MailKind
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


def decide(policy: NotificationSettings, trigger: SubscriptionTrigger, t: Transition) -> list[Decision]:
    """The decisions for one subscription: one per mail kind the transition concerns, sent or not."""
    if t.change is Change.FIRST_FAILURE:
        kinds = [MailKind.RUNNING_WITH_ERROR]
    else:
        kinds = [MailKind.FINISHED_WITH_ERROR if t.status in FAILED_STATUSES else MailKind.SUCCESS]
        if t.deletes_held:
            kinds.append(MailKind.DELETES_HELD)
    quarantine = [_quarantine(trigger)] if t.change is Change.FINISHED and t.quarantine_notice else []
    if t.run_type not in policy.notify_run_types:
        notifying = ", ".join(r.value for r in policy.notify_run_types) or "none"
        return [
            Decision(k, False, f"{t.run_type.value} runs do not notify (this job notifies: {notifying})") for k in kinds
        ] + quarantine
    return [_decide_kind(policy, trigger, t, kind) for kind in kinds] + quarantine


def _quarantine(trigger: SubscriptionTrigger) -> Decision:
    """Entra's one-time quarantine mail: whatever the run type; again only when the reason changes."""
    if trigger is SubscriptionTrigger.RECORDS_UPDATED:
        return Decision(MailKind.QUARANTINED, False, "trigger records_updated: quarantine is not reported")
    return Decision(MailKind.QUARANTINED, True, "the job was quarantined (or the reason changed)")


def _decide_kind(policy: NotificationSettings, trigger: SubscriptionTrigger, t: Transition, kind: MailKind) -> Decision:
    if kind is MailKind.DELETES_HELD:
        if trigger in (SubscriptionTrigger.RECORDS_UPDATED, SubscriptionTrigger.JOB_FAILS):
            return Decision(kind, False, f"trigger {trigger.value}: held deletes are not reported")
        return Decision(kind, True, f"the delete threshold held {plural(t.deletes_held, 'delete')} back")
    if trigger is SubscriptionTrigger.DEFAULT:
        return _sap(policy, t, kind)
    if kind is MailKind.RUNNING_WITH_ERROR:
        return Decision(kind, False, f"trigger {trigger.value}: reports finished runs only")
    if trigger is SubscriptionTrigger.ALWAYS:
        return Decision(kind, True, "trigger always: every finished run")
    if trigger is SubscriptionTrigger.RECORDS_UPDATED:
        if t.changed_records:
            return Decision(kind, True, f"trigger records_updated: {plural(t.changed_records, 'record')} changed")
        return Decision(kind, False, "trigger records_updated: no record created, updated or deleted")
    if trigger is SubscriptionTrigger.ERRORS:
        if t.failed_entities or t.status in (RunStatus.FAILED, RunStatus.FINISHED_WITH_ERRORS):
            return Decision(kind, True, f"trigger errors: {_errors(t)}")
        return Decision(kind, False, "trigger errors: no error")
    if t.status is RunStatus.FAILED:
        return Decision(kind, True, "trigger job_fails: the run failed")
    return Decision(kind, False, f"trigger job_fails: the run {t.status.value.replace('_', ' ')}, it did not fail")


def _errors(t: Transition) -> str:
    if t.status is RunStatus.FAILED:
        return "the run failed"
    if t.failed_entities:
        return plural(t.failed_entities, "failed entity", "failed entities")
    return "it finished with errors (a collection step failed)"


def _sap(policy: NotificationSettings, t: Transition, kind: MailKind) -> Decision:
    if kind is MailKind.RUNNING_WITH_ERROR:
        if policy.skip_intermediate_notifications:
            return Decision(kind, False, "skip_intermediate_notifications is on")
        return Decision(kind, True, "first failed entity of the run")

    ignored = policy.ignored_consecutive_failures
    if kind is MailKind.FINISHED_WITH_ERROR:
        position = t.streak_before + 1
        if t.quarantined_before:
            return Decision(kind, False, "the job is quarantined: its quarantine mail reports the failures")
        if policy.repeat_on_failure:
            return Decision(kind, True, "repeat_on_failure: every failed run is reported")
        if position <= ignored:
            return Decision(kind, False, f"failed run {position} of the streak; the first {ignored} are ignored")
        if position == ignored + 1:
            return Decision(kind, True, f"failed run {position} of the streak is reported")
        return Decision(kind, False, f"failed run {position} of the streak; already reported at run {ignored + 1}")

    if t.streak_before == 0:
        return Decision(kind, False, "ordinary success after a success")
    if policy.repeat_on_failure or t.streak_before > ignored:
        return Decision(kind, True, f"first success after {plural(t.streak_before, 'failed run')}")
    ignored_runs = plural(t.streak_before, "failed run")
    verb = "was" if t.streak_before == 1 else "were"
    return Decision(kind, False, f"the {ignored_runs} before {verb} ignored, not reported")


@dataclass(frozen=True)
class CapCheck:
    send: bool
    reason: str


def cap(enabled: bool, last_sent_at: datetime | None, now: datetime) -> CapCheck:
    """Entra's "one notification e-mail per day": may a mail to this recipient about this job go now?"""
    if not enabled:
        return CapCheck(True, "")
    if last_sent_at is None or now - last_sent_at >= CAP_WINDOW:
        return CapCheck(True, "")
    until = last_sent_at + CAP_WINDOW
    return CapCheck(
        False,
        f"held: one mail per 24 hours, the last went at {last_sent_at:%Y-%m-%d %H:%M} UTC; "
        f"it is listed in the next mail after {until:%Y-%m-%d %H:%M} UTC",
    )
