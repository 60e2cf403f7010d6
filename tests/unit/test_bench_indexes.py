"""Write units a table write spends in its global secondary indexes (tests/bench/indexes.py), by the
developer guide's rules, from the index definitions DescribeTable gives."""

from __future__ import annotations

from typing import Any

import pytest

from tests.bench.indexes import Index, TableIndexes, from_description, index_item, index_write_units, item_write_units

# the entity-state table of template.yaml: by_target (pk, target_id), KEYS_ONLY
ENTITY_STATE = TableIndexes(("pk", "sk"), (Index("by_target", ("pk", "target_id"), "KEYS_ONLY"),))


def state(target_id: str | None = "t-1", hash_: str = "h1", padding: int = 0) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": {"S": "job#users"}, "sk": {"S": "e-1"}, "hash": {"S": hash_ + "x" * padding}}
    if target_id is not None:
        item["target_id"] = {"S": target_id}
    return item


@pytest.mark.parametrize(
    ("before", "after", "units"),
    [
        (None, state(), 1),  # created with target_id: one put into the index
        (None, state(target_id=None), 0),  # created without it: not in the sparse index
        (state(target_id=None), state(), 1),  # gained target_id: one put
        (state(), state(target_id="t-2"), 2),  # target_id changed: a delete plus a put
        (state(), state(hash_="h2"), 0),  # only a non-projected attribute changed: KEYS_ONLY is untouched
        (state(), state(), 0),  # rewritten the same
        (state(), None, 1),  # deleted: its index entry is deleted
        (state(), state(target_id=None), 1),  # lost target_id: one delete
        (state(target_id=None), None, 0),  # deleted, never in the index
        (None, None, 0),
    ],
)
def test_a_keys_only_index_is_written_when_its_keys_appear_change_or_go(
    before: dict[str, Any] | None, after: dict[str, Any] | None, units: int
) -> None:
    assert index_write_units(before, after, ENTITY_STATE) == units


def test_a_keys_only_index_item_is_the_index_keys_and_the_table_keys_whatever_the_item_s_size() -> None:
    # Given a 3 KB item / When it is created / Then the index holds only its keys: one unit, the table three
    big = state(padding=3000)
    assert index_item(big, ENTITY_STATE.table_keys, ENTITY_STATE.indexes[0]) == {
        "pk": big["pk"],
        "sk": big["sk"],
        "target_id": big["target_id"],
    }
    assert item_write_units(None, big, ENTITY_STATE) == (3, 1)


ALL = TableIndexes(("pk", "sk"), (Index("gsi1", ("gsi1pk", "gsi1sk"), "ALL"),))
INCLUDE = TableIndexes(("pk", "sk"), (Index("by_x", ("x",), "INCLUDE", ("title",)),))


def test_an_all_index_is_written_by_any_change_of_an_indexed_item_at_its_larger_size() -> None:
    # Given an item in gsi1 / When an attribute changes and the item grows past 1 KB / Then two units
    before = {"pk": {"S": "p"}, "sk": {"S": "s"}, "gsi1pk": {"S": "g"}, "gsi1sk": {"S": "1"}, "v": {"S": "a"}}
    after = {**before, "v": {"S": "a" * 1100}}
    assert index_write_units(before, after, ALL) == 2
    # an item without the index keys is not in it, whatever changes
    outside = {"pk": {"S": "p"}, "sk": {"S": "s"}, "v": {"S": "a"}}
    assert index_write_units(outside, {**outside, "v": {"S": "b"}}, ALL) == 0


def test_an_include_index_is_written_when_an_included_attribute_changes_not_another() -> None:
    before = {"pk": {"S": "p"}, "sk": {"S": "s"}, "x": {"S": "1"}, "title": {"S": "a"}, "other": {"S": "a"}}
    assert index_write_units(before, {**before, "title": {"S": "b"}}, INCLUDE) == 1
    assert index_write_units(before, {**before, "other": {"S": "b"}}, INCLUDE) == 0


def test_each_index_of_a_table_is_billed_for_its_own_change() -> None:
    # Given two indexes / When an item enters both / Then one put each
    both = TableIndexes(("pk",), (Index("a", ("x",), "KEYS_ONLY"), Index("b", ("y",), "KEYS_ONLY")))
    assert index_write_units(None, {"pk": {"S": "1"}, "x": {"S": "x"}, "y": {"S": "y"}}, both) == 2


def test_the_index_definitions_are_read_from_describe_table() -> None:
    # Given DescribeTable's answer for the entity-state table (as the local AWS gives it)
    table = {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "by_target",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "target_id", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
            {
                "IndexName": "by_x",
                "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["title"]},
            },
        ],
    }
    # Then its keys and indexes are what the rules need
    assert from_description(table) == TableIndexes(
        ("pk", "sk"),
        (Index("by_target", ("pk", "target_id"), "KEYS_ONLY"), Index("by_x", ("x",), "INCLUDE", ("title",))),
    )
    assert from_description({"KeySchema": table["KeySchema"]}).indexes == ()


@pytest.mark.parametrize(
    ("before", "after", "table_units"),
    [(state(padding=2000), None, 2), (state(padding=2000), state(), 2), (None, state(padding=1500), 2)],
)
def test_a_table_write_is_billed_by_the_larger_of_the_item_before_and_after(
    before: dict[str, Any] | None, after: dict[str, Any] | None, table_units: int
) -> None:
    # a delete of a 2 KB item is two units, not a fixed one
    assert item_write_units(before, after, ENTITY_STATE)[0] == table_units
