"""Fanned-out deletes: how a claimed delete plan is cut into batches, and which batches are due."""

import pytest

from syncjobs.engine.deletes import (
    INLINE_MAX_DELETES,
    DeleteBatch,
    DeletePlan,
    delete_batches,
    due_delete_batches,
    fans_out,
)
from syncjobs.models.run import RunType


def plan(n: int, held: str | None = None) -> DeletePlan:
    return DeletePlan([(f"E{i:06d}", f"t{i}") for i in range(n)], held)


@pytest.mark.parametrize(
    ("plans", "run_type", "fanned"),
    [
        ({"users": plan(INLINE_MAX_DELETES)}, RunType.READ, False),  # finalize makes a few itself
        ({"users": plan(INLINE_MAX_DELETES + 1)}, RunType.READ, True),
        ({"users": plan(INLINE_MAX_DELETES), "groups": plan(1)}, RunType.READ, True),  # counted over types
        ({"users": plan(5000, held="delete held back")}, RunType.READ, False),  # held: nothing to make
        ({"users": plan(5000)}, RunType.SIMULATE, False),  # a simulate run writes nothing
        ({"users": plan(5000)}, RunType.RESYNC, True),
    ],
)
def test_given_a_plan_then_only_more_deletes_than_finalize_makes_fan_out(plans, run_type, fanned):
    assert fans_out(plans, run_type) is fanned


def test_given_groups_and_users_deletes_then_batches_run_groups_first_numbered_across_types():
    # Given 250 users and 120 groups to delete, in batches of 100
    batches = delete_batches({"users": plan(250), "groups": plan(120)}, ["groups", "users"], size=100)
    # Then groups come first, every delete is in exactly one batch, and indexes run on
    assert batches == [
        DeleteBatch(0, "groups", 0, 100),
        DeleteBatch(1, "groups", 100, 120),
        DeleteBatch(2, "users", 0, 100),
        DeleteBatch(3, "users", 100, 200),
        DeleteBatch(4, "users", 200, 250),
    ]


def test_given_a_held_type_then_it_has_no_batches():
    batches = delete_batches({"users": plan(30), "groups": plan(30, held="held")}, ["groups", "users"], size=100)
    assert batches == [DeleteBatch(0, "users", 0, 30)]


BATCHES = delete_batches({"users": plan(250), "groups": plan(120)}, ["groups", "users"], size=100)


@pytest.mark.parametrize(
    ("done", "queued", "due_indexes"),
    [
        (0, set(), [0, 1]),  # first: the groups' batches only
        (0, {"groups"}, []),  # queued, none counted yet: nothing new
        (1, {"groups"}, []),  # users wait for every groups batch
        (2, {"groups"}, [2, 3, 4]),  # groups counted: users due
        (2, {"groups", "users"}, []),
        (5, {"groups", "users"}, []),  # all counted
        (2, set(), [0, 1, 2, 3, 4]),  # a lost mark: send the groups' again too (a counted copy is dropped)
    ],
)
def test_given_counted_batches_then_the_next_types_batches_fall_due(done, queued, due_indexes):
    assert [b.index for b in due_delete_batches(BATCHES, done, queued)] == due_indexes
