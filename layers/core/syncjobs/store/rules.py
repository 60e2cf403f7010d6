"""EventBridge: a job's schedule is a rule whose target is start_run with the constant input
{"job_id": ..., "type": ...}. Rule names are `syncjobs-<job_id>` (shortened with a hash when a long
job id would pass EventBridge's 64 characters); the rule's description records when it was made,
since a rate counts from then."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import ClientError

from syncjobs.store.clients import client
from syncjobs.store.errors import translate

RULE_PREFIX = "syncjobs-"
TARGET_ID = "start-run"
_MADE = "syncjobs schedule of job {job_id}, made {made}"


def rule_name(job_id: str) -> str:
    name = RULE_PREFIX + job_id
    if len(name) <= 64:
        return name
    return f"{name[:54]}-{hashlib.sha256(job_id.encode()).hexdigest()[:9]}"


@dataclass(frozen=True)
class ScheduleRule:
    job_id: str
    expression: str
    run_type: str
    enabled: bool
    made_at: datetime | None


class ScheduleRules:
    def __init__(self) -> None:
        self._events = client("events")

    def put(self, job_id: str, expression: str, run_type: str, target_arn: str, now: datetime) -> None:
        name = rule_name(job_id)
        try:
            self._events.put_rule(
                Name=name,
                ScheduleExpression=expression,
                State="ENABLED",
                Description=_MADE.format(job_id=job_id, made=now.isoformat()),
            )
            self._events.put_targets(
                Rule=name,
                Targets=[
                    {"Id": TARGET_ID, "Arn": target_arn, "Input": json.dumps({"job_id": job_id, "type": run_type})}
                ],
            )
        except ClientError as err:
            raise translate(err, f"scheduling job {job_id}") from err

    def get(self, job_id: str) -> ScheduleRule | None:
        name = rule_name(job_id)
        try:
            rule = self._events.describe_rule(Name=name)
            targets = self._events.list_targets_by_rule(Rule=name)["Targets"]
        except ClientError as err:
            if err.response["Error"]["Code"] == "ResourceNotFoundException":
                return None
            raise translate(err, f"reading the schedule of job {job_id}") from err
        target = next((t for t in targets if t["Id"] == TARGET_ID), None)
        run_type = json.loads(target.get("Input", "{}")).get("type", "read") if target else "read"
        made = rule.get("Description", "").rsplit(", made ", 1)
        return ScheduleRule(
            job_id=job_id,
            expression=rule.get("ScheduleExpression", ""),
            run_type=run_type,
            enabled=rule.get("State") == "ENABLED",
            made_at=datetime.fromisoformat(made[1]) if len(made) == 2 else None,
        )

    def delete(self, job_id: str) -> bool:
        """Remove the job's rule; False if it had none."""
        name = rule_name(job_id)
        try:
            self._events.remove_targets(Rule=name, Ids=[TARGET_ID])
            self._events.delete_rule(Name=name)
        except ClientError as err:
            if err.response["Error"]["Code"] == "ResourceNotFoundException":
                return False
            raise translate(err, f"removing the schedule of job {job_id}") from err
        return True
