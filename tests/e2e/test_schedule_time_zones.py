"""A schedule in a time zone, end to end: set from the terminal with --timezone, kept by EventBridge
Scheduler (moto), fired by the local scheduler on a simulated clock across a daylight saving change:
02:00 in Berlin on both sides, so an hour apart in UTC, each fire a run of the job."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from syncjobs.models.run import Trigger
from syncjobs.store.runs import RunStore
from syncjobs_local.demo import prepare, wait_for_run
from syncjobs_local.pollers import Scheduler
from syncjobs_local.stack import LocalStack
from tests.e2e.helpers import wait_until
from tests.e2e.test_cli import cli

pytestmark = pytest.mark.e2e

BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_weekdays_at_two_in_berlin_fire_at_two_local_on_both_sides_of_the_october_change(stack: LocalStack) -> None:
    # Given a job scheduled from the terminal on weekdays at 02:00 Berlin time
    job_id = prepare(stack, users=5, subscriber=None).job_id
    answer = cli(stack, "schedule", "set", job_id, "cron(0 2 ? * MON-FRI *)", "--timezone", "Europe/Berlin")
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.startswith(f"job {job_id} scheduled: cron(0 2 ? * MON-FRI *) in Europe/Berlin (read); next ")

    # And `schedule next` lists each fire at 02:00 local with its UTC time
    upcoming = cli(stack, "schedule", "next", job_id).stdout.splitlines()
    assert upcoming[0] == "cron(0 2 ? * MON-FRI *) in Europe/Berlin (read):"
    pairs = [line.split() for line in upcoming[1:]]
    assert len(pairs) == 5
    for local, utc, zone in pairs:
        assert (datetime.fromisoformat(local).strftime("%H:%M"), zone) == ("02:00", "UTC)")
        assert datetime.fromisoformat(local) == datetime.fromisoformat(utc.strip("("))

    # When the simulated clock runs from Thursday 22 October 2026 to Monday the 26th (Berlin leaves
    # summer time at 03:00 on Sunday the 25th)
    now = [at("2026-10-22T12:00:00+00:00")]
    scheduler = Scheduler(stack.invoker, clock=lambda: now[0])
    scheduler.tick()
    ticks = [
        "2026-10-23T00:00:30+00:00",  # Friday 02:00:30 CEST
        "2026-10-24T00:00:30+00:00",  # Saturday: weekdays only
        "2026-10-25T00:00:30+00:00",  # Sunday 02:00:30 CEST, an hour before the change
        "2026-10-25T01:00:30+00:00",  # Sunday 02:00:30 CET, the repeated hour
        "2026-10-26T00:00:30+00:00",  # Monday 01:00:30 CET: 00:00 UTC is not 02:00 in Berlin any more
        "2026-10-26T01:00:30+00:00",  # Monday 02:00:30 CET
    ]
    for tick in ticks:
        now[0] = at(tick)
        scheduler.tick()
        scheduler.drain()
        for run in RunStore().list_for_job(job_id):  # a fire's run ends before the next (the job's lock)
            wait_for_run(run.run_id, timeout_s=120)

    # Then it fired twice: Friday and Monday, both at 02:00 in Berlin, an hour apart in UTC
    fires = [fired for name, fired in scheduler.fired if name == f"syncjobs-{job_id}"]
    assert fires == [at("2026-10-23T00:00:00+00:00"), at("2026-10-26T01:00:00+00:00")]
    assert [f.astimezone(BERLIN).strftime("%a %H:%M %Z") for f in fires] == ["Fri 02:00 CEST", "Mon 02:00 CET"]
    assert fires[1].time().hour - fires[0].time().hour == 1

    # And each fire started a run of the job, named by its scheduled time
    wait_until(lambda: len(RunStore().list_for_job(job_id)) == 2, "the two scheduled runs")
    runs = sorted(RunStore().list_for_job(job_id), key=lambda r: r.created_at)
    assert [r.trigger for r in runs] == [Trigger.SCHEDULE, Trigger.SCHEDULE]
    assert [r.created_at for r in runs] == fires
    assert all(wait_for_run(r.run_id, timeout_s=120).status.is_final for r in runs)
