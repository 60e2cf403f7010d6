"""The time an invocation keeps back for recording what it did: a share of its time, more when recent
recordings were slow, never so much that no work is left."""

from __future__ import annotations

import pytest

from syncjobs.deadline import MAX_RESERVE_S, Budget, OutOfTime, RecordingTimes, reserve_for
from syncjobs.models.run import ShardMessage, ShardSpec, wait_delay_s


@pytest.mark.parametrize(
    ("total_s", "slowest_s", "reserve_s"),
    [
        (60, 0.0, 10.0),  # a share of 60 s, capped at the most a fast recording needs
        (3, 0.0, 1.2),  # 40% of a short invocation
        (1, 0.0, 0.6),  # never more than 60%, even for the minimum
        (3, 1.0, 1.5),  # a recording took 1 s: half as much again
        (3, 1.9, 1.8),  # slower still: capped so 40% is left for starting and work
        (60, 0.2, 10.0),  # a fast recording does not shrink the reserve
        (900, 30.0, 45.0),  # a slow one grows it past the fixed maximum
    ],
)
def test_the_reserve_follows_the_slowest_recent_recording_within_bounds(total_s, slowest_s, reserve_s):
    assert reserve_for(total_s, slowest_s) == pytest.approx(reserve_s)
    assert reserve_for(total_s, slowest_s) <= 0.6 * total_s
    assert MAX_RESERVE_S == 10.0


def test_recording_times_remember_the_slowest_of_the_recent_ones():
    # Given a slow recording followed by RECENT fast ones
    times = RecordingTimes(keep=3)
    times.observe(2.0)
    assert times.slowest() == 2.0
    for _ in range(3):
        times.observe(0.1)

    # Then the slow one is forgotten
    assert times.slowest() == 0.1
    times.clear()
    assert times.slowest() == 0.0


def test_a_budget_of_an_invocation_reserves_what_its_container_observed():
    # Given a container whose last recording took 1.6 s, and an invocation with 3 s left
    times = RecordingTimes()
    times.observe(1.6)
    remaining_ms = [3000]
    budget = Budget.of_invocation(lambda: remaining_ms[0], times)

    # Then 1.8 s are kept back, 1.2 s are for work
    assert budget.left() == pytest.approx(1.2)
    budget.check("a call", needs_s=1.0)
    remaining_ms[0] = 1700
    with pytest.raises(OutOfTime, match="no time left in this invocation for a call"):
        budget.check("a call")


def test_a_slow_recording_observed_during_an_invocation_counts_at_once():
    # Given an invocation with 3 s that started while recordings were fast
    times = RecordingTimes()
    budget = Budget.of_invocation(lambda: 3000, times)
    assert budget.left() == pytest.approx(1.8)

    # When another invocation in the container records slowly
    times.observe(1.2)

    # Then this one keeps back more from then on
    assert budget.left() == pytest.approx(1.2)


def test_a_slow_spell_is_forgotten_after_a_while_even_when_nothing_records_since():
    # Given a container whose last recording, a minute and a half ago, was slow
    now = [0.0]
    times = RecordingTimes(forget_after_s=60, clock=lambda: now[0])
    times.observe(2.0)
    assert times.slowest() == 2.0

    # When no invocation records anything for longer than the forgetting time
    now[0] = 61.0

    # Then the reserve is back to its share of the invocation
    assert times.slowest() == 0.0
    assert Budget.of_invocation(lambda: 3000, times).left() == pytest.approx(1.8)


@pytest.mark.parametrize(
    ("waits", "resume_after_s", "delay_s"),
    [
        (1, 0.0, 1.0),  # the first wait: a second
        (2, 0.0, 2.0),
        (4, 0.0, 8.0),  # doubling with each wait in a row
        (9, 0.0, 30.0),  # never more than half a minute
        (1, 7.0, 7.0),  # the target's Retry-After when it asks for longer
        (6, 7.0, 30.0),
    ],
)
def test_a_part_back_on_the_queue_undone_waits_longer_each_time_in_a_row(waits, resume_after_s, delay_s):
    assert wait_delay_s(waits, resume_after_s) == delay_s


def test_a_continuation_starts_its_waits_afresh():
    # Given a part that waited three times
    shard = ShardSpec(shard_id="00001", entity_type="users", start=0, end=5, first_row=2)
    message = ShardMessage(run_id="r", job_id="j", shard=shard)
    waited = message.waiting().waiting().waiting()
    assert waited.waits == 3
    assert waited.part_id == message.part_id

    # When it is continued after doing some work
    # Then the rest has no waits behind it
    assert waited.continuation(waited.shard).waits == 0
