"""Phases: users shards first, groups shards queued only once every users shard is counted."""

import pytest

from syncjobs.engine.phases import due_phases, number_phases
from syncjobs.models.outcome import EntityType
from syncjobs.models.run import Phase, ShardSpec

USERS = Phase(entity_type=EntityType.USERS, first=0, count=2)
GROUPS = Phase(entity_type=EntityType.GROUPS, first=2, count=1)
NO_USERS = Phase(entity_type=EntityType.USERS, first=0, count=0)
GROUPS_ONLY = Phase(entity_type=EntityType.GROUPS, first=0, count=1)


def spec(i: int) -> ShardSpec:
    return ShardSpec(shard_id=f"{i:05d}", start=0, end=1, first_row=2)


def test_given_shards_of_two_types_then_ids_run_on_across_phases():
    phases, shards = number_phases([(EntityType.USERS, [spec(0), spec(1)]), (EntityType.GROUPS, [spec(0)])])
    assert phases == [USERS, GROUPS]
    assert [(s.shard_id, s.entity_type) for s in shards] == [
        ("00000", EntityType.USERS),
        ("00001", EntityType.USERS),
        ("00002", EntityType.GROUPS),
    ]


@pytest.mark.parametrize(
    ("phases", "shards_done", "queued", "due"),
    [
        ([USERS, GROUPS], 0, set(), [USERS]),  # a new run: users only
        ([USERS, GROUPS], 1, {"users"}, []),  # users half counted: groups wait
        ([USERS, GROUPS], 2, {"users"}, [GROUPS]),  # users counted: groups due
        ([USERS, GROUPS], 2, {"users", "groups"}, []),  # already queued
        ([USERS, GROUPS], 2, set(), [USERS, GROUPS]),  # lost mark: send users again too
        ([NO_USERS, GROUPS_ONLY], 0, set(), [NO_USERS, GROUPS_ONLY]),  # no users: groups at once
        ([USERS], 2, {"users"}, []),
    ],
)
def test_phases_fall_due_in_order(phases, shards_done, queued, due):
    assert due_phases(phases, shards_done, queued) == due
