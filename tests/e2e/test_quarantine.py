"""Quarantine on the local stack: a scheduled job whose target token is wrong fails outright five
times (start_run's preflight: the target refuses the credentials), is quarantined, its next scheduled
fires are skipped per the back-off (the scheduler's clock is simulated), one quarantine mail goes out,
and an admin's restart clears it."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from syncjobs.admin import operations
from syncjobs.models.run import Run, RunStatus
from syncjobs.store.runs import RunStore
from syncjobs_local.demo import SUBSCRIBER, prepare, wait_for_run
from syncjobs_local.pollers import Scheduler
from syncjobs_local.stack import LocalStack
from tests.e2e.test_notifications import mails, set_token

pytestmark = pytest.mark.e2e

QUARANTINED = "Job Quarantined"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def fire(stack: LocalStack, scheduler: Scheduler, clock: Clock, at: datetime, job_id: str) -> Run:
    """Move the scheduler's clock to `at`, let the hourly rule fire, and wait for that fire's run."""
    before = {r.run_id for r in RunStore().list_for_job(job_id)}
    clock.now = at
    scheduler.tick()
    scheduler.drain()
    (new,) = [r for r in RunStore().list_for_job(job_id) if r.run_id not in before]
    assert new.created_at == at
    return wait_for_run(new.run_id, timeout_s=120, stack=stack)


def settle(stack: LocalStack) -> None:
    """Let the notifier and the outbox catch up with the last run."""
    time.sleep(1.5)
    assert stack.poller_errors() == []


def api(stack: LocalStack, method: str, path: str) -> dict:
    request = urllib.request.Request(stack.admin_api_url + path, method=method)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return dict(json.loads(answer.read()))


def test_a_job_failing_outright_is_quarantined_backs_off_mails_once_and_restart_clears_it(stack: LocalStack) -> None:
    # Given an hourly job whose target token is wrong (the target refuses it: each run fails at its start)
    job_id = prepare(stack, users=10, bad_rows=False, shard_size=10, retry={"retries": 0, "delay_seconds": 0}).job_id
    operations.set_schedule(job_id, "rate(1 hour)")
    set_token(stack, "wrong-token")
    clock = Clock()
    scheduler = Scheduler(stack.invoker, clock=clock)
    scheduler.tick()  # the rule is seen at T0: it fires every hour from then

    # When it fires five times
    runs = [fire(stack, scheduler, clock, T0 + timedelta(hours=h), job_id) for h in range(1, 6)]

    # Then every run failed outright and the fifth quarantined the job, first attempt 6 h later
    assert [r.status for r in runs] == [RunStatus.FAILED] * 5
    assert all(sum(r.totals().values()) == 0 and r.shards_total is None for r in runs)  # nothing was tried
    refused = f"target.token_secret: the target {stack.scim.url} refused the credentials (HTTP 401"
    assert all((r.reason or "").startswith(refused) for r in runs)
    assert [r.quarantine_notice is not None for r in runs] == [False] * 4 + [True]
    shown = api(stack, "GET", f"/jobs/{job_id}")
    assert shown["outright_streak"] == 5
    quarantine = shown["quarantine"]
    assert datetime.fromisoformat(quarantine["since"]) == T0 + timedelta(hours=5)
    assert datetime.fromisoformat(quarantine["next_attempt_at"]) == T0 + timedelta(hours=11)
    assert quarantine["reason"] == runs[0].reason  # worded the same every run: a change would be news

    # And the next five hourly fires are skipped, saying why and until when
    skipped = [fire(stack, scheduler, clock, T0 + timedelta(hours=h), job_id) for h in range(6, 11)]
    assert [r.status for r in skipped] == [RunStatus.SKIPPED] * 5
    assert all("quarantined since 2026-11-23 13:00 UTC" in (r.reason or "") for r in skipped)
    assert all("skipped until 2026-11-23 19:00 UTC" in (r.reason or "") for r in skipped)

    # And the fire at +6 h is the attempt: it fails again, the next attempt is 12 h after it
    attempt = fire(stack, scheduler, clock, T0 + timedelta(hours=11), job_id)
    assert attempt.status is RunStatus.FAILED
    assert attempt.quarantine_notice is None  # same reason: no second mail
    quarantine = api(stack, "GET", f"/jobs/{job_id}")["quarantine"]
    assert (quarantine["attempts"], quarantine["next_attempt_at"][:16]) == (1, "2026-11-24T07:00")
    assert fire(stack, scheduler, clock, T0 + timedelta(hours=12), job_id).status is RunStatus.SKIPPED

    # And exactly one quarantine mail went out, even with every stream record delivered twice more
    settle(stack)
    stack.replay_streams(times=2)
    settle(stack)
    assert [subject for _, subject in mails(stack)].count(QUARANTINED) == 1
    assert (SUBSCRIBER, QUARANTINED) in mails(stack)
    assert stack.outbox is not None
    (text,) = [p.read_text() for p in stack.outbox.written if QUARANTINED in p.read_text()]
    assert "quarantined since 2026-11-23 13:00 UTC" in " ".join(text.split())
    assert f"syncjobs jobs restart {job_id}" in text

    # When the admin fixes the token and restarts the job through the admin API
    set_token(stack, stack.scim.token)
    restarted = api(stack, "POST", f"/jobs/{job_id}/restart")

    # Then it is no longer quarantined, and the next scheduled fire runs and succeeds
    assert (restarted["quarantine"], restarted["outright_streak"]) == (None, 0)
    assert api(stack, "GET", f"/jobs/{job_id}")["quarantine"] is None
    after = fire(stack, scheduler, clock, T0 + timedelta(hours=13), job_id)
    assert after.status is RunStatus.SUCCEEDED
    assert after.totals()["created"] == 10
