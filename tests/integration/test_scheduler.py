"""The local scheduler does what EventBridge does: fires a rule's target at the rule's times (UTC),
with the target's constant input, into start_run; and what EventBridge Scheduler does: fires a
schedule at its times in its time zone, with its input's context attributes filled in."""

import json
import time
from datetime import UTC, datetime, timedelta

import boto3

from syncjobs.models.run import Trigger
from syncjobs.store.runs import RunStore
from syncjobs_local.demo import prepare
from syncjobs_local.pollers import Scheduler


def rule(aws, name: str, expression: str, job_id: str) -> None:
    events = boto3.client("events")
    events.put_rule(Name=name, ScheduleExpression=expression, State="ENABLED")
    target = {
        "Id": "start-run",
        "Arn": aws.function_arn("StartRunFunction"),
        "Input": json.dumps({"job_id": job_id, "type": "read"}),
    }
    events.put_targets(Rule=name, Targets=[target])


def fired(scheduler: Scheduler, prefix: str = "hr-") -> list:
    """The fires of this test's rules (the template's own schedules, e.g. the approvals sweep, fire too)."""
    return [f for f in scheduler.fired if f[0].startswith(prefix)]


def runs_of(job_id: str, count: int, timeout_s: float = 20.0):
    deadline = time.monotonic() + timeout_s
    while len(runs := RunStore().list_for_job(job_id)) < count:
        assert time.monotonic() < deadline, f"{len(runs)} run(s), expected {count}"
        time.sleep(0.1)
    return runs


def test_a_rate_rule_fires_start_run_with_its_constant_input(aws):
    job_id = prepare(aws, users=5).job_id
    rule(aws, "hr-every-minute", "rate(1 minute)", job_id)
    now = [datetime(2026, 11, 21, 8, 0, 0, tzinfo=UTC)]
    scheduler = Scheduler(aws.invoker, clock=lambda: now[0])

    scheduler.tick()  # the rule is seen: its first fire is a minute later
    now[0] += timedelta(seconds=59)
    scheduler.tick()
    assert fired(scheduler) == []

    now[0] += timedelta(seconds=2)
    scheduler.tick()
    assert fired(scheduler) == [("hr-every-minute", datetime(2026, 11, 21, 8, 1, tzinfo=UTC))]
    (run,) = runs_of(job_id, 1)
    assert run.trigger is Trigger.SCHEDULE
    assert run.triggered_by == "eventbridge"
    scheduler.drain()


def test_a_cron_rule_fires_on_weekdays_at_its_hour_utc(aws):
    job_id = prepare(aws, users=5).job_id
    rule(aws, "hr-weekdays", "cron(0 8 ? * MON-FRI *)", job_id)
    rule(aws, "broken", "cron(0 8 * * MON *)", job_id)  # both day fields set: EventBridge would refuse it
    now = [datetime(2026, 11, 21, 7, 59, tzinfo=UTC)]  # a Saturday
    scheduler = Scheduler(aws.invoker, clock=lambda: now[0])
    scheduler.tick()
    now[0] = datetime(2026, 11, 22, 8, 0, 30, tzinfo=UTC)  # Sunday: nothing
    scheduler.tick()
    assert fired(scheduler) == []
    now[0] = datetime(2026, 11, 23, 8, 0, 30, tzinfo=UTC)  # Monday 08:00
    scheduler.tick()
    assert fired(scheduler) == [("hr-weekdays", datetime(2026, 11, 23, 8, 0, tzinfo=UTC))]
    runs_of(job_id, 1)
    scheduler.drain()


def test_a_scheduler_schedule_fires_in_its_time_zone_and_skips_the_time_spring_forward_skips(aws):
    # Given a Scheduler schedule, daily at 02:30 Berlin time (02:30 does not exist on 29 March 2026)
    job_id = prepare(aws, users=5).job_id
    group = aws.resources.name("ScheduleGroup")
    boto3.client("scheduler").create_schedule(
        Name="hr-berlin",
        GroupName=group,
        ScheduleExpression="cron(30 2 * * ? *)",
        ScheduleExpressionTimezone="Europe/Berlin",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": aws.function_arn("StartRunFunction"),
            "RoleArn": aws.resources.attr("SchedulerRole", "Arn"),
            "Input": json.dumps({"job_id": job_id, "type": "read", "time": "<aws.scheduler.scheduled-time>"}),
        },
    )
    now = [datetime(2026, 3, 27, 12, 0, tzinfo=UTC)]
    scheduler = Scheduler(aws.invoker, clock=lambda: now[0])
    scheduler.tick()

    # When the clock passes 02:30 Berlin time on Saturday, Sunday (twice: 00:30 and 01:30 UTC) and Monday
    for moment in ("2026-03-28T01:30:30", "2026-03-29T00:30:30", "2026-03-29T01:30:30", "2026-03-30T00:30:30"):
        now[0] = datetime.fromisoformat(moment).replace(tzinfo=UTC)
        scheduler.tick()
        scheduler.drain()

    # Then it fired Saturday 02:30 CET (01:30 UTC) and Monday 02:30 CEST (00:30 UTC), not on Sunday
    assert fired(scheduler) == [
        ("hr-berlin", datetime(2026, 3, 28, 1, 30, tzinfo=UTC)),
        ("hr-berlin", datetime(2026, 3, 30, 0, 30, tzinfo=UTC)),
    ]
    # And the first fire's run is named by its scheduled time, filled in from the input's context attribute
    runs = runs_of(job_id, 1)
    assert datetime(2026, 3, 28, 1, 30, tzinfo=UTC) in [r.created_at for r in runs]
