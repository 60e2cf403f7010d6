"""Schedules through the admin API: an EventBridge Scheduler schedule (in a time zone) with start_run as its
target, checked before it is made, fired by the local scheduler; its next fire times, local and UTC;
cleared; a rule made before Scheduler still read, fired, and moved to Scheduler when set again."""

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


def a_minute_on(aws) -> Scheduler:
    """A local scheduler that has seen the schedules now and a minute later (simulated), its fires done."""
    now = [datetime.now(UTC)]
    scheduler = Scheduler(aws.invoker, clock=lambda: now[0])
    scheduler.tick()
    now[0] += timedelta(seconds=61)
    scheduler.tick()
    scheduler.drain()
    return scheduler


def scheduled(aws, name: str) -> dict:
    """The Scheduler schedule `name` in the stack's schedule group, as AWS keeps it."""
    return boto3.client("scheduler").get_schedule(Name=name, GroupName=aws.resources.name("ScheduleGroup"))


def test_a_schedule_set_through_the_api_is_a_scheduler_schedule_the_scheduler_fires(aws):
    job_id = prepare(aws, users=3, subscriber=None).job_id

    # When an admin sets rate(1 minute)
    status, body = call(aws, "PUT", f"/jobs/{job_id}/schedule", {"expression": "rate(1 minute)", "type": "resync"})

    # Then it is a Scheduler schedule (UTC) with start_run as its target, run as the scheduler role, with a
    # retry policy and the dead-letter queue, and an input carrying the fire's scheduled time
    assert status == 200
    assert (body["expression"], body["type"], body["enabled"]) == ("rate(1 minute)", "resync", True)
    assert (body["timezone"], body["service"]) == ("UTC", "scheduler")
    fires = [datetime.fromisoformat(f) for f in body["next_fires"]]
    assert len(fires) == 5
    assert all(b - a == timedelta(minutes=1) for a, b in pairwise(fires))
    schedule = scheduled(aws, f"syncjobs-{job_id}")
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert target["Arn"] == aws.resources.attr("StartRunFunction", "Arn")
    assert target["RoleArn"] == aws.resources.attr("SchedulerRole", "Arn")
    assert target["DeadLetterConfig"] == {"Arn": aws.resources.attr("ScheduleDeadLetterQueue", "Arn")}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert json.loads(target["Input"]) == {"job_id": job_id, "type": "resync", "time": "<aws.scheduler.scheduled-time>"}
    assert boto3.client("events").list_rules(NamePrefix="syncjobs-")["Rules"] == []

    # And the scheduler fires it a minute later: a resync run triggered by the schedule
    scheduler = a_minute_on(aws)
    (run,) = RunStore().list_for_job(job_id)
    assert (run.trigger, run.run_type.value) == (Trigger.SCHEDULE, "resync")
    ((_, fired_at),) = scheduler.fired
    assert run.created_at == fired_at.replace(second=0, microsecond=0)  # the scheduled time, not its arrival

    # And clearing it removes the schedule
    assert call(aws, "DELETE", f"/jobs/{job_id}/schedule") == (
        200,
        {"job_id": job_id, "scheduled": False, "removed": True},
    )
    assert call(aws, "GET", f"/jobs/{job_id}/schedule")[1] == {"job_id": job_id, "scheduled": False, "next_fires": []}
    assert boto3.client("scheduler").list_schedules()["Schedules"] == []


def test_a_schedule_in_a_time_zone_lists_its_fires_in_local_time_and_utc(aws):
    job_id = prepare(aws, users=3, subscriber=None).job_id

    # When an admin sets weekdays at 02:00 in Berlin
    body = {"expression": "cron(0 2 ? * MON-FRI *)", "timezone": "Europe/Berlin"}
    status, answer = call(aws, "PUT", f"/jobs/{job_id}/schedule", body)

    # Then Scheduler keeps the zone, and the next fires are 02:00 in Berlin, whatever their UTC hour
    assert status == 200, answer
    assert answer["timezone"] == "Europe/Berlin"
    assert scheduled(aws, f"syncjobs-{job_id}")["ScheduleExpressionTimezone"] == "Europe/Berlin"
    local = [datetime.fromisoformat(t) for t in answer["next_fires_local"]]
    utc = [datetime.fromisoformat(t) for t in answer["next_fires"]]
    assert len(local) == len(utc) == 5
    assert all((t.hour, t.minute, t.weekday() < 5) == (2, 0, True) for t in local)
    assert [t.astimezone(UTC) for t in local] == utc
    assert {t.utcoffset() for t in local} <= {timedelta(hours=1), timedelta(hours=2)}
    assert call(aws, "GET", f"/jobs/{job_id}/schedule")[1]["next_fires_local"] == answer["next_fires_local"]


def test_a_collection_is_scheduled_in_a_time_zone_too(aws):
    prepare(aws, users=3, subscriber=None)
    collection = {"collection_id": "nightly", "name": "Nightly", "steps": [{"job_id": "hr-to-scim"}]}
    status, applied = call(aws, "PUT", "/collections/nightly", collection)
    assert status in {200, 201}, applied
    status, answer = call(
        aws,
        "PUT",
        "/collections/nightly/schedule",
        {"expression": "cron(30 6 * * ? *)", "timezone": "America/New_York"},
    )
    assert status == 200, answer
    assert answer["collection_id"] == "nightly"
    assert all(datetime.fromisoformat(t).strftime("%H:%M") == "06:30" for t in answer["next_fires_local"])
    schedule = scheduled(aws, "syncjobs-col.nightly")
    assert schedule["ScheduleExpressionTimezone"] == "America/New_York"
    assert json.loads(schedule["Target"]["Input"])["collection_id"] == "nightly"


def legacy_rule(aws, job_id: str, expression: str) -> None:
    """A schedule as syncjobs made them before Scheduler: a UTC rule with an input transformer."""
    events = boto3.client("events")
    name = f"syncjobs-{job_id}"
    made = datetime.now(UTC).isoformat()
    events.put_rule(
        Name=name,
        ScheduleExpression=expression,
        State="ENABLED",
        Description=f"syncjobs schedule of job {job_id}, made {made}",
    )
    template = json.dumps({"job_id": job_id, "type": "read"})[:-1] + ', "time": <time>}'
    target = {
        "Id": "start-run",
        "Arn": aws.resources.attr("StartRunFunction", "Arn"),
        "InputTransformer": {"InputPathsMap": {"time": "$.time"}, "InputTemplate": template},
    }
    events.put_targets(Rule=name, Targets=[target])


def test_a_rule_made_before_scheduler_still_fires_and_is_moved_when_set_again(aws):
    # Given a job scheduled the old way, a UTC EventBridge rule
    job_id = prepare(aws, users=3, subscriber=None).job_id
    legacy_rule(aws, job_id, "rate(1 minute)")

    # Then the API shows it, as a UTC rule, and the scheduler still fires it into a run
    status, shown = call(aws, "GET", f"/jobs/{job_id}/schedule")
    assert status == 200
    assert (shown["expression"], shown["timezone"], shown["service"]) == ("rate(1 minute)", "UTC", "events")
    scheduler = a_minute_on(aws)
    assert [name for name, _ in scheduler.fired] == [f"syncjobs-{job_id}"]
    assert len(RunStore().list_for_job(job_id)) == 1

    # When the schedule is set again, in a time zone
    status, moved = call(
        aws, "PUT", f"/jobs/{job_id}/schedule", {"expression": "cron(0 2 * * ? *)", "timezone": "Europe/Berlin"}
    )

    # Then it is a Scheduler schedule and the rule is gone
    assert status == 200, moved
    assert (moved["service"], moved["timezone"]) == ("scheduler", "Europe/Berlin")
    assert boto3.client("events").list_rules(NamePrefix="syncjobs-")["Rules"] == []
    assert scheduled(aws, f"syncjobs-{job_id}")["ScheduleExpression"] == "cron(0 2 * * ? *)"


def test_clearing_a_rule_made_before_scheduler_removes_it(aws):
    job_id = prepare(aws, users=3, subscriber=None).job_id
    legacy_rule(aws, job_id, "cron(0 8 ? * MON-FRI *)")
    assert call(aws, "DELETE", f"/jobs/{job_id}/schedule")[1]["removed"] is True
    assert boto3.client("events").list_rules(NamePrefix="syncjobs-")["Rules"] == []


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
        ({"expression": "rate(1 hour)", "timezone": "Europe/Berln"}, "timezone", "'Europe/Berln' is not an IANA"),
        ({"expression": "rate(1 hour)", "timezone": "+02:00"}, "timezone", "not an IANA time zone name"),
    ],
)
def test_invalid_schedules_are_refused_before_anything_is_made_naming_the_field(aws, body, field, words):
    job_id = prepare(aws, users=3, subscriber=None).job_id
    status, answer = call(aws, "PUT", f"/jobs/{job_id}/schedule", body)
    assert status == 422
    assert any(p.startswith(f"{field}: ") and words in p for p in answer["problems"]), answer
    assert boto3.client("events").list_rules(NamePrefix="syncjobs-")["Rules"] == []
    assert boto3.client("scheduler").list_schedules()["Schedules"] == []


def test_scheduling_an_unknown_job_is_a_404(aws):
    status, answer = call(aws, "PUT", "/jobs/no-such-job/schedule", {"expression": "rate(1 hour)"})
    assert status == 404
    assert "no-such-job" in answer["message"]
