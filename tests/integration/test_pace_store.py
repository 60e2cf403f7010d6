"""A job's pace in the jobs table: one item, changed by a read and a write conditional on its version, so
that workers racing on it never lose each other's change."""

from __future__ import annotations

from syncjobs.engine import pace
from syncjobs.store.pace import PaceStore


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
