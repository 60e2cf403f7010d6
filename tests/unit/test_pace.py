"""The job's pace: a shared token bucket taken a batch at a time, a rate that halves on 429 and climbs
back after successes, and leased write slots that free themselves when a worker dies."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from syncjobs.engine.pace import (
    MIN_RATE_SHARE,
    PaceState,
    claim_slots,
    effective_rate,
    recovered,
    released,
    take,
    throttled,
)
from syncjobs.models.job import ScimTarget

LIMIT = 100.0


@pytest.mark.parametrize(
    ("state", "now", "want", "granted", "wait_s", "tokens_left"),
    [
        (PaceState(), 10.0, 500, 25, 0.0, 75.0),  # a new bucket starts full; a batch is 0.25 s of writes
        (PaceState(), 10.0, 3, 3, 0.0, 97.0),  # never more than wanted
        (PaceState(tokens=0.0, at=10.0), 10.0, 5, 0, 0.05, 0.0),  # empty: 5 tokens in 5/100 s
        (PaceState(tokens=0.0, at=10.0), 10.1, 50, 0, 0.15, 0.0),  # 10 accrued: the batch of 25 waits
        (PaceState(tokens=0.0, at=10.0), 10.1, 10, 10, 0.0, 0.0),  # 0.1 s later: 10 tokens accrued
        (PaceState(tokens=90.0, at=10.0), 20.0, 500, 25, 0.0, 75.0),  # accrual stops at one second's worth
        (PaceState(tokens=0.5, at=10.0), 10.0, 1, 0, 0.005, 0.5),  # half a token: half the wait
        (PaceState(tokens=50, at=10.0, paused_until=12.0), 11.0, 5, 0, 1.0, 50.0),  # a Retry-After pause
        (PaceState(tokens=0.0, at=10.0, rate=20.0), 10.5, 50, 5, 0.0, 5.0),  # a lowered rate accrues slower
    ],
)
def test_tokens_are_taken_a_batch_at_a_time_and_a_worker_learns_how_long_to_wait(
    state, now, want, granted, wait_s, tokens_left
):
    taken = take(state, now, LIMIT, want)
    assert taken.granted == granted
    assert taken.wait_s == pytest.approx(wait_s)
    assert taken.state.tokens == pytest.approx(tokens_left)


def test_a_slow_limit_still_grants_one_write_at_a_time():
    # Given a limit of 2 writes/s (a batch of 0.25 s would be half a write)
    taken = take(PaceState(), 0.0 + 5, 2.0, 10)
    # Then one token is granted, and the next waits for the bucket's remaining one
    assert taken.granted == 1
    assert take(taken.state, 5.0, 2.0, 10).granted == 1
    assert take(take(taken.state, 5.0, 2.0, 10).state, 5.0, 2.0, 10).wait_s == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("rate", "retry_after_s", "new_rate", "paused_until"),
    [
        (None, 2.0, 50.0, 12.0),  # from the limit: half
        (50.0, 0.0, 25.0, 10.0),  # halved again; no Retry-After: no pause
        (6.0, 1.0, 5.0, 11.0),  # never below 5% of the limit
    ],
)
def test_a_429_halves_the_rate_empties_the_bucket_and_pauses_for_the_retry_after(
    rate, retry_after_s, new_rate, paused_until
):
    after = throttled(PaceState(tokens=40.0, at=10.0, rate=rate), 10.0, LIMIT, retry_after_s)
    assert after.rate == pytest.approx(new_rate)
    assert after.tokens == 0.0
    assert after.paused_until == pytest.approx(paused_until)


def test_a_pause_is_the_longest_retry_after_asked():
    state = throttled(PaceState(at=10.0), 10.0, LIMIT, 5.0)
    assert throttled(state, 11.0, LIMIT, 1.0).paused_until == pytest.approx(15.0)


@pytest.mark.parametrize(
    ("rate", "successes", "new_rate"),
    [
        (None, 10, None),  # at the limit already
        (50.0, 1, 52.0),  # each success: 2% of the limit
        (50.0, 10, 70.0),
        (50.0, 0, 50.0),
        (95.0, 10, None),  # back at the limit
    ],
)
def test_successes_raise_the_rate_step_by_step_up_to_the_limit(rate, successes, new_rate):
    after = recovered(PaceState(rate=rate), LIMIT, successes)
    assert after.rate == (pytest.approx(new_rate) if new_rate is not None else None)


def test_the_effective_rate_stays_between_its_floor_and_the_limit():
    assert effective_rate(PaceState(), LIMIT) == LIMIT
    assert effective_rate(PaceState(rate=0.001), LIMIT) == MIN_RATE_SHARE * LIMIT
    assert effective_rate(PaceState(rate=500.0), LIMIT) == LIMIT


@pytest.mark.parametrize(
    ("leases", "want", "granted"),
    [
        ({}, 4, 4),
        ({"a": (6, 100.0)}, 4, 2),  # 2 of 8 left
        ({"a": (8, 100.0)}, 4, 0),  # none free: the worker waits on the queue
        ({"a": (8, 5.0)}, 4, 4),  # a dead worker's lease expired
        ({"me": (4, 100.0), "a": (4, 100.0)}, 4, 4),  # claiming again replaces one's own lease
    ],
)
def test_write_slots_are_leased_up_to_the_job_s_concurrency(leases, want, granted):
    got, state = claim_slots(PaceState(leases=leases), 10.0, "me", want, 8, 60.0)
    assert got == granted
    assert sum(slots for slots, until in state.leases.values() if until > 10.0) <= 8
    if granted:
        assert state.leases["me"] == (granted, 70.0)
    assert "me" not in released(state, "me").leases


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"max_writes_per_second": 0}, "max_writes_per_second"),
        ({"max_writes_per_second": 10001}, "max_writes_per_second"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": 101}, "max_concurrency"),
    ],
)
def test_pace_settings_out_of_range_are_refused_naming_the_field(settings, field):
    with pytest.raises(ValidationError) as raised:
        ScimTarget(type="scim", base_url="https://scim.example/v2", **settings)
    assert raised.value.errors()[0]["loc"] == (field,)


def test_pace_settings_are_optional():
    target = ScimTarget(type="scim", base_url="https://scim.example/v2", max_writes_per_second=2.5, max_concurrency=8)
    assert (target.max_writes_per_second, target.max_concurrency) == (2.5, 8)
    assert ScimTarget(type="scim", base_url="https://scim.example/v2").max_writes_per_second is None
