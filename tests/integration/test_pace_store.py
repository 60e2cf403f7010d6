"""A job's pace in the jobs table: one item, changed by a read and a write conditional on its version, so
that workers racing on it never lose each other's change."""

from __future__ import annotations

from syncjobs.deadline import Budget
from syncjobs.engine import pace
from syncjobs.store.pace import RACE_BACKOFF_CAP_S, RACE_BACKOFF_S, PaceStore, race_pause_s
from syncjobs.workflows.pacing import WriteSlots


def test_a_change_lost_to_a_racing_worker_is_applied_again_to_what_that_worker_wrote(aws):
    # Given two workers of one job; the first one's change races a change of the second
    first, second = PaceStore(), PaceStore()
    raced = []

    def claim_four(state: pace.PaceState) -> tuple[int, pace.PaceState]:
        if not raced:  # between this worker's read and its write, the other worker leases 3 slots
            raced.append(second.change("j1", lambda s: pace.claim_slots(s, 1000.0, "other", 3, 6, 60.0)))
        return pace.claim_slots(state, 1000.0, "me", 4, 6, 60.0)

    # When the first worker claims 4 of the job's 6 slots
    granted = first.change("j1", claim_four)

    # Then it got the 3 the other left free, and both leases are stored
    assert raced == [3]
    assert granted == 3
    stored = first.change("j1", lambda state: (state, state))
    assert stored.leases == {"other": (3, 1060.0), "me": (3, 1060.0)}
    assert stored.version == 2


def test_tokens_taken_and_a_429_are_kept_per_job(aws):
    store = PaceStore()

    def take_ten(state: pace.PaceState) -> tuple[pace.Taken, pace.PaceState]:
        taken = pace.take(state, 1000.0, 100.0, 10)
        return taken, taken.state

    taken = store.change("j1", take_ten)
    assert taken.granted == 10
    store.change("j1", lambda s: (None, pace.throttled(s, 1000.0, 100.0, 5.0)))

    held = store.change("j1", lambda state: (state, state))
    assert held.rate == 50.0
    assert held.paused_until == 1005.0
    assert store.change("j2", lambda state: (state, state)) == pace.PaceState()  # another job: untouched


def test_a_worker_that_keeps_losing_races_backs_off_longer_each_time_before_it_reads_again(aws):
    # Given a worker whose first three writes each lose the race to another worker's change
    pauses: list[float] = []
    store, other = PaceStore(sleep=pauses.append), PaceStore()
    races = []

    def claim_one(state: pace.PaceState) -> tuple[int, pace.PaceState]:
        if len(races) < 3:  # between this worker's read and its write, the other worker changes the item
            races.append(other.change("j1", lambda s: pace.claim_slots(s, 1000.0, f"o{len(races)}", 1, 9, 60.0)))
        return pace.claim_slots(state, 1000.0, "me", 1, 9, 60.0)

    # When it claims a slot
    granted = store.change("j1", claim_one)

    # Then it won on its fourth write, after three pauses each drawn from a window twice the last
    assert granted == 1
    assert len(pauses) == 3
    for lost, pause in enumerate(pauses, start=1):
        assert 0.0 <= pause <= RACE_BACKOFF_S * 2 ** (lost - 1)


def test_the_backoff_window_doubles_with_each_lost_race_up_to_its_cap():
    widest = [race_pause_s(lost, draw=lambda low, high: high) for lost in range(1, 10)]
    assert widest[:3] == [RACE_BACKOFF_S, 2 * RACE_BACKOFF_S, 4 * RACE_BACKOFF_S]
    assert max(widest) == RACE_BACKOFF_CAP_S
    assert race_pause_s(5, draw=lambda low, high: low) == 0.0


def test_a_release_that_keeps_losing_races_leaves_the_lease_to_expire_instead_of_failing_the_shard(aws):
    # Given a worker holding 2 of the job's slots, and a store whose every write loses its race
    slots = WriteSlots(PaceStore(), "j1", 4, clock=lambda: 1000.0)
    assert slots.claim(2, Budget.unlimited()) == 2

    class Racing(PaceStore):
        def _written(self, job_id, version, state):
            return False

    slots._store = Racing(sleep=lambda s: None)

    # When it releases them, Then nothing is raised, and the lease stays until it expires
    slots.release()
    held = PaceStore().change("j1", lambda state: (state, state))
    assert held.leases[slots._holder][0] == 2
