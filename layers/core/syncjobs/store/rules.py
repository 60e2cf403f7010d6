"""A job's (or a collection's) schedule: an EventBridge Scheduler schedule in the stack's schedule group,
evaluated in its time zone (ScheduleExpressionTimezone), whose target is start_run with the input
{"job_id": ..., "type": ..., "time": <aws.scheduler.scheduled-time>} (a collection's: "collection_id").
The fire time is the scheduled time itself, so a fire delivered twice, even minutes apart, names the
same run. Scheduler invokes start_run as the stack's scheduler role, retries per the retry policy and
puts what it could not deliver on the schedules' dead-letter queue.

Schedules set before Scheduler were EventBridge rules (UTC only) with an input transformer; such a rule
is still read (and fires) until the schedule is set again, which moves it to Scheduler and deletes the
rule, or cleared. Names are `syncjobs-<job_id>` or `syncjobs-col.<collection_id>` (ids hold no dots),
shortened with a hash when a long id would pass the 64 characters both services allow; the
description records when it was made, since a rate counts from then."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from syncjobs.schedules import parse
from syncjobs.settings import get_settings
from syncjobs.store.clients import client
from syncjobs.store.errors import translate

RULE_PREFIX = "syncjobs-"
TARGET_ID = "start-run"
_MADE = "syncjobs schedule of {kind} {job_id}, made {made}"


def _made_at(description: str | None) -> datetime | None:
    """When a schedule (or a rule) was made, from the description `_MADE` wrote; None if it says not."""
    made = (description or "").rsplit(", made ", 1)
    return datetime.fromisoformat(made[1]) if len(made) == 2 else None


_ID_KEYS = {"job": "job_id", "collection": "collection_id"}


def rule_name(job_id: str, kind: str = "job") -> str:
    name = RULE_PREFIX + ("" if kind == "job" else "col.") + job_id
    if len(name) <= 64:
        return name
    return f"{name[:54]}-{hashlib.sha256(name.encode()).hexdigest()[:9]}"


def target_input(target: dict[str, Any]) -> dict[str, Any]:
    """What a rule's target receives, without the event's time: its constant input or template (rules
    made before Scheduler carry an input transformer whose template inserts the event's <time>)."""
    if "InputTransformer" in target:
        return dict(json.loads(target["InputTransformer"]["InputTemplate"].replace("<time>", "null")))
    return dict(json.loads(target.get("Input", "{}")))


SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"  # Scheduler's context attribute: the fire's own time
# Scheduler retries a fire start_run's invoke refused (throttled) for up to an hour; what is left then
# goes to the dead-letter queue. A late fire still names its scheduled time, so its run is that one.
RETRY_POLICY = {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 10}


def scheduler_input(kind: str, subject_id: str, run_type: str) -> str:
    """A schedule's target input: the subject and run type, and the fire's scheduled time."""
    constant = json.dumps({_ID_KEYS[kind]: subject_id, "type": run_type})
    return constant[:-1] + f', "time": "{SCHEDULED_TIME}"}}'


@dataclass(frozen=True)
class SchedulerTarget:
    """Where a schedule's fires go: start_run, as which role, and the dead-letter queue."""

    function_arn: str
    role_arn: str
    dead_letter_arn: str


@dataclass(frozen=True)
class ScheduleRule:
    job_id: str
    expression: str
    run_type: str
    enabled: bool
    made_at: datetime | None
    timezone: str = "UTC"
    service: str = "scheduler"  # "scheduler", or "events" for a rule made before Scheduler


class ScheduleRules:
    def __init__(self) -> None:
        self._events = client("events")
        self._scheduler = client("scheduler")
        self._group = get_settings().schedule_group or "default"

    def put(
        self,
        job_id: str,
        expression: str,
        run_type: str,
        target: SchedulerTarget,
        now: datetime,
        kind: str = "job",
        timezone: str = "UTC",
    ) -> None:
        """Create or update the job's Scheduler schedule, then delete a rule it replaces (the migration)."""
        name = rule_name(job_id, kind)
        fields: dict[str, Any] = {
            "Name": name,
            "GroupName": self._group,
            "ScheduleExpression": expression,
            "ScheduleExpressionTimezone": timezone,
            "Description": _MADE.format(kind=kind, job_id=job_id, made=now.isoformat()),
            "State": "ENABLED",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {
                "Arn": target.function_arn,
                "RoleArn": target.role_arn,
                "Input": scheduler_input(kind, job_id, run_type),
                "RetryPolicy": RETRY_POLICY,
                "DeadLetterConfig": {"Arn": target.dead_letter_arn},
            },
        }
        rate = parse(expression).rate
        if rate is not None:  # without a start, Scheduler fires a rate at once; a rule first fired a rate on
            fields["StartDate"] = now + rate
        try:
            try:
                self._scheduler.update_schedule(**fields)
            except ClientError as err:
                if err.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
                self._scheduler.create_schedule(**fields)
        except ClientError as err:
            raise translate(err, f"scheduling {kind} {job_id}") from err
        self._delete_rule(job_id, kind)

    def get(self, job_id: str, kind: str = "job") -> ScheduleRule | None:
        """The job's schedule: its Scheduler schedule, else a rule made before Scheduler; None if neither."""
        try:
            schedule = self._scheduler.get_schedule(Name=rule_name(job_id, kind), GroupName=self._group)
        except ClientError as err:
            if err.response["Error"]["Code"] != "ResourceNotFoundException":
                raise translate(err, f"reading the schedule of {kind} {job_id}") from err
            return self._get_rule(job_id, kind)
        sent = json.loads(schedule["Target"].get("Input", "{}").replace(f'"{SCHEDULED_TIME}"', "null"))
        return ScheduleRule(
            job_id=job_id,
            expression=schedule.get("ScheduleExpression", ""),
            run_type=str(sent.get("type", "read")),
            enabled=schedule.get("State") == "ENABLED",
            made_at=_made_at(schedule.get("Description")),
            timezone=schedule.get("ScheduleExpressionTimezone") or "UTC",
        )

    def delete(self, job_id: str, kind: str = "job") -> bool:
        """Remove the job's schedule (and a rule made before Scheduler); False if it had neither."""
        try:
            self._scheduler.delete_schedule(Name=rule_name(job_id, kind), GroupName=self._group)
            deleted = True
        except ClientError as err:
            if err.response["Error"]["Code"] != "ResourceNotFoundException":
                raise translate(err, f"removing the schedule of {kind} {job_id}") from err
            deleted = False
        return self._delete_rule(job_id, kind) or deleted

    # ------------------------------------------------------------------ rules made before Scheduler
    def _get_rule(self, job_id: str, kind: str = "job") -> ScheduleRule | None:
        name = rule_name(job_id, kind)
        try:
            rule = self._events.describe_rule(Name=name)
            targets = self._events.list_targets_by_rule(Rule=name)["Targets"]
        except ClientError as err:
            if err.response["Error"]["Code"] == "ResourceNotFoundException":
                return None
            raise translate(err, f"reading the schedule of job {job_id}") from err
        target = next((t for t in targets if t["Id"] == TARGET_ID), None)
        run_type = str(target_input(target).get("type", "read")) if target else "read"
        return ScheduleRule(
            job_id=job_id,
            expression=rule.get("ScheduleExpression", ""),
            run_type=run_type,
            enabled=rule.get("State") == "ENABLED",
            made_at=_made_at(rule.get("Description")),
            service="events",
        )

    def _delete_rule(self, job_id: str, kind: str = "job") -> bool:
        """Remove the job's rule; False if it had none."""
        name = rule_name(job_id, kind)
        try:
            self._events.remove_targets(Rule=name, Ids=[TARGET_ID])
            self._events.delete_rule(Name=name)
        except ClientError as err:
            if err.response["Error"]["Code"] == "ResourceNotFoundException":
                return False
            raise translate(err, f"removing the schedule of job {job_id}") from err
        return True
