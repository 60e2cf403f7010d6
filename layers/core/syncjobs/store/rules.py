"""EventBridge: a job's schedule is a rule whose target is start_run with the input
{"job_id": ..., "type": ..., "time": <the event's time>} (a collection's: "collection_id"). The fire
time comes from the scheduled event itself (an input transformer), so a fire delivered twice, even
minutes apart, names the same run. Rule names are `syncjobs-<job_id>` or `syncjobs-col.<collection_id>`
(ids hold no dots), shortened with a hash when a long id would pass EventBridge's 64 characters; the
rule's description records when it was made, since a rate counts from then."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from syncjobs.store.clients import client
from syncjobs.store.errors import translate

RULE_PREFIX = "syncjobs-"
TARGET_ID = "start-run"
_MADE = "syncjobs schedule of {kind} {job_id}, made {made}"
_ID_KEYS = {"job": "job_id", "collection": "collection_id"}


def rule_name(job_id: str, kind: str = "job") -> str:
    name = RULE_PREFIX + ("" if kind == "job" else "col.") + job_id
    if len(name) <= 64:
        return name
    return f"{name[:54]}-{hashlib.sha256(name.encode()).hexdigest()[:9]}"


def input_transformer(kind: str, subject_id: str, run_type: str) -> dict[str, Any]:
    """The target's input: the subject and run type, and the scheduled event's own time."""
    constant = json.dumps({_ID_KEYS[kind]: subject_id, "type": run_type})
    return {"InputPathsMap": {"time": "$.time"}, "InputTemplate": constant[:-1] + ', "time": <time>}'}


def target_input(target: dict[str, Any]) -> dict[str, Any]:
    """What a rule's target receives, without the event's time: its constant input or template."""
    if "InputTransformer" in target:
        return dict(json.loads(target["InputTransformer"]["InputTemplate"].replace("<time>", "null")))
    return dict(json.loads(target.get("Input", "{}")))


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

    def put(
        self, job_id: str, expression: str, run_type: str, target_arn: str, now: datetime, kind: str = "job"
    ) -> None:
        name = rule_name(job_id, kind)
        try:
            self._events.put_rule(
                Name=name,
                ScheduleExpression=expression,
                State="ENABLED",
                Description=_MADE.format(kind=kind, job_id=job_id, made=now.isoformat()),
            )
            self._events.put_targets(
                Rule=name,
                Targets=[
                    {
                        "Id": TARGET_ID,
                        "Arn": target_arn,
                        "InputTransformer": input_transformer(kind, job_id, run_type),
                    }
                ],
            )
        except ClientError as err:
            raise translate(err, f"scheduling job {job_id}") from err

    def get(self, job_id: str, kind: str = "job") -> ScheduleRule | None:
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
        made = rule.get("Description", "").rsplit(", made ", 1)
        return ScheduleRule(
            job_id=job_id,
            expression=rule.get("ScheduleExpression", ""),
            run_type=run_type,
            enabled=rule.get("State") == "ENABLED",
            made_at=datetime.fromisoformat(made[1]) if len(made) == 2 else None,
        )

    def delete(self, job_id: str, kind: str = "job") -> bool:
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
