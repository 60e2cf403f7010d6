"""Schedules through the admin API: an EventBridge rule with start_run as its target and a constant
input, checked before put_rule, fired by the local scheduler; its next fire times; cleared."""

import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import boto3
import pytest

from syncjobs.models.run import Trigger
from syncjobs.store.runs import RunStore
from syncjobs_local.demo import prepare
from syncjobs_local.lambda_events import api_event
from syncjobs_local.pollers import Scheduler


def call(aws, method, path, body=None):
    answer = aws.invoke("AdminApiFunction", api_event(method, path, body))
    return answer["statusCode"], json.loads(answer["body"])


def test_a_schedule_set_through_the_api_is_a_rule_the_scheduler_fires(aws):
    job_id = prepare(aws, users=3, subscriber=None).job_id

    # When an admin sets rate(1 minute)
    status, body = call(aws, "PUT", f"/jobs/{job_id}/schedule", {"expression": "rate(1 minute)", "type": "resync"})

    # Then the rule exists with start_run as its target and an input carrying the event's time
    assert status == 200
    assert (body["expression"], body["type"], body["enabled"]) == ("rate(1 minute)", "resync", True)
    fires = [datetime.fromisoformat(f) for f in body["next_fires"]]
    assert len(fires) == 5
    assert all(b - a == timedelta(minutes=1) for a, b in pairwise(fires))
    (target,) = boto3.client("events").list_targets_by_rule(Rule=f"syncjobs-{job_id}")["Targets"]
    assert target["Arn"] == aws.resources.attr("StartRunFunction", "Arn")
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"] == {"time": "$.time"}
    assert json.loads(transformer["InputTemplate"].replace("<time>", '"T"')) == {
        "job_id": job_id,
        "type": "resync",
        "time": "T",
    }

    # And the scheduler fires it a minute later: a resync run triggered by the schedule
    now = [datetime.now(UTC)]
    scheduler = Scheduler(aws.invoker, clock=lambda: now[0])
    scheduler.tick()
    now[0] += timedelta(seconds=61)
    scheduler.tick()
    scheduler.drain()
    (run,) = RunStore().list_for_job(job_id)
    assert (run.trigger, run.run_type.value) == (Trigger.SCHEDULE, "resync")
    ((_, fired_at),) = scheduler.fired
    assert run.created_at == fired_at.replace(second=0, microsecond=0)  # the event's time, not its arrival

    # And clearing it removes the rule
    assert call(aws, "DELETE", f"/jobs/{job_id}/schedule") == (
        200,
        {"job_id": job_id, "scheduled": False, "removed": True},
    )
    assert call(aws, "GET", f"/jobs/{job_id}/schedule")[1] == {"job_id": job_id, "scheduled": False, "next_fires": []}


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"expression": "rate(0 minutes)"}, "expression", ""),
        ({"expression": "rate(5 minute)"}, "expression", ""),
        ({"expression": "cron(0 8 * * MON *)"}, "expression", ""),  # both day fields set
        ({"expression": "cron(0 8 * *)"}, "expression", ""),
        ({"expression": "every day"}, "expression", ""),
        ({}, "expression", "Field required"),
        ({"expression": "rate(1 hour)", "type": "reread"}, "type", "Input should be"),
    ],
)
def test_invalid_schedules_are_refused_before_put_rule_naming_the_field(aws, body, field, words):
    job_id = prepare(aws, users=3, subscriber=None).job_id
    status, answer = call(aws, "PUT", f"/jobs/{job_id}/schedule", body)
    assert status == 422
    assert any(p.startswith(f"{field}: ") and words in p for p in answer["problems"]), answer
    assert boto3.client("events").list_rules(NamePrefix="syncjobs-")["Rules"] == []


def test_scheduling_an_unknown_job_is_a_404(aws):
    status, answer = call(aws, "PUT", "/jobs/no-such-job/schedule", {"expression": "rate(1 hour)"})
    assert status == 404
    assert "no-such-job" in answer["message"]
