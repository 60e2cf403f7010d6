"""Phases: users shards first, groups shards queued only once every users shard is counted."""

import pytest

from syncjobs.engine.phases import due_phases, number_phases
from syncjobs.models.outcome import EntityType
from syncjobs.models.run import Phase, ShardSpec, shard_id, shard_order

USERS = Phase(entity_type=EntityType.USERS, first=0, count=2)
GROUPS = Phase(entity_type=EntityType.GROUPS, first=2, count=1)
NO_USERS = Phase(entity_type=EntityType.USERS, first=0, count=0)
GROUPS_ONLY = Phase(entity_type=EntityType.GROUPS, first=0, count=1)


def spec(i: int) -> ShardSpec:
    return ShardSpec(shard_id=shard_id(i), start=0, end=1, first_row=2)


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


def test_given_a_job_of_ten_million_entities_in_shards_of_one_then_every_shard_has_a_valid_id():
    # Given the last shard of 10 million (six to eight digits past 99,999)
    # When it is numbered and planned
    last = spec(9_999_999)
    # Then its id is its number, and it validates as a shard message would
    assert last.shard_id == "9999999"
    assert ShardSpec.model_validate(last.model_dump()).shard_id == "9999999"


def test_given_shards_past_99999_then_they_sort_by_number():
    names = [shard_id(i) for i in (100_000, 99_999, 2, 10_000)]
    assert sorted(names, key=shard_order) == ["00002", "10000", "99999", "100000"]


@pytest.mark.parametrize("bad", ["1234", "123456789", "0001a", ""])
def test_given_a_malformed_shard_id_then_it_is_refused(bad):
    with pytest.raises(ValueError, match="shard_id"):
        ShardSpec(shard_id=bad, start=0, end=1, first_row=2)
