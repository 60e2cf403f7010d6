"""Delete rules: only after a complete full read; a threshold holds every delete back."""

import pytest

from syncjobs.engine.deletes import plan_deletes, why_no_deletes
from syncjobs.models.job import DeletePolicy
from syncjobs.models.run import ReadMode, RunType

PROVISIONED = {f"e{i}": f"t{i}" for i in range(10)}
SEEN = {f"e{i}" for i in range(2, 10)}  # e0, e1 left the source


@pytest.mark.parametrize(
    ("run_type", "mode", "policy", "unreadable", "stopped", "why"),
    [
        (RunType.READ, ReadMode.FULL, DeletePolicy(), 0, False, None),
        (RunType.RESYNC, ReadMode.FULL, DeletePolicy(), 0, False, None),
        (RunType.SIMULATE, ReadMode.FULL, DeletePolicy(), 0, False, None),
        (RunType.VALIDATE, ReadMode.FULL, DeletePolicy(), 0, False, "validate runs never delete"),
        (RunType.READ, ReadMode.DELTA, DeletePolicy(), 0, False, "a delta read never deletes"),
        (RunType.READ, ReadMode.FULL, DeletePolicy(enabled=False), 0, False, "upsert only"),
        (RunType.READ, ReadMode.FULL, DeletePolicy(), 2, False, "2 source row(s) could not be read"),
        (RunType.READ, ReadMode.FULL, DeletePolicy(), 0, True, "stopped"),
    ],
)
def test_when_deletes_are_considered(run_type, mode, policy, unreadable, stopped, why):
    got = why_no_deletes(run_type, mode, policy, unreadable, stopped)
    assert (got is None) if why is None else (why in got)


@pytest.mark.parametrize(
    ("unreadable", "dead", "why"),
    [
        (0, 0, None),
        (0, 1, "1 shard part(s) could not be processed, so the read is not complete"),
        (3, 2, "3 source row(s) could not be read"),
    ],
)
def test_a_dead_shard_part_means_the_read_is_not_complete(unreadable, dead, why):
    # Given a full read run whose shard parts died (dead-lettered) or rows were unreadable
    # When deletes are considered
    got = why_no_deletes(RunType.READ, ReadMode.FULL, DeletePolicy(), unreadable, False, dead)
    # Then nothing is deleted, with the reason
    assert (got is None) if why is None else (why in got)


def test_entities_not_seen_are_deleted_in_a_stable_order():
    plan = plan_deletes(PROVISIONED, SEEN, DeletePolicy())
    assert plan.deletes == [("e0", "t0"), ("e1", "t1")]
    assert plan.held_reason is None


@pytest.mark.parametrize(
    ("policy", "held"),
    [
        (DeletePolicy(max_count=2), False),
        (DeletePolicy(max_count=1), True),
        (DeletePolicy(max_percent=20), False),
        (DeletePolicy(max_percent=19.9), True),
        (DeletePolicy(max_count=5, max_percent=10), True),
    ],
)
def test_a_threshold_holds_every_delete_back(policy, held):
    plan = plan_deletes(PROVISIONED, SEEN, policy)
    assert plan.pending == [("e0", "t0"), ("e1", "t1")]
    assert (plan.deletes == []) is held
    assert (plan.held_reason is not None) is held
    if held:
        assert plan.held_reason.startswith("delete held back: 2 pending deletes")


def test_nothing_to_delete_gives_an_empty_plan():
    assert plan_deletes(PROVISIONED, set(PROVISIONED), DeletePolicy(max_count=0)).pending == []
