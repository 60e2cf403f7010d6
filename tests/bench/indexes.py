"""Write request units a table write spends in the table's global secondary indexes: pure rules over the
item before and after the write, and the index definitions as DescribeTable gives them.

The rules are the developer guide's ("Provisioned throughput considerations for global secondary
indexes", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.ThroughputConsiderations):
an item is in an index when it has every key attribute of the index (a sparse index holds no others);
  - not in the index before, in it after (a new item, or one that gained the indexed attribute): one put;
  - in it before and after with another value of an index key attribute: a delete plus a put;
  - in it before, not after (the item deleted, or its indexed attribute removed): one delete;
  - in it before and after with the same index keys: one write if a projected attribute changed (with a
    KEYS_ONLY index, never), none otherwise;
  - in it neither before nor after: nothing.
Each index write is billed as a table write is, one unit per started 1 KB of the index item (the larger
of its old and new image for an update in place). The index item is what the index holds: the index's
keys, the table's keys, and the projected attributes (all of them for ALL; the listed ones for INCLUDE).
The 100 bytes per index item of the storage rules are storage, not request units, and are not added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.bench.costs import item_size, write_units

Item = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]  # the index's key attributes (partition key, and sort key if any)
    projection: str  # KEYS_ONLY, INCLUDE or ALL
    included: tuple[str, ...] = ()  # INCLUDE: the non-key attributes projected


@dataclass(frozen=True)
class TableIndexes:
    table_keys: tuple[str, ...]
    indexes: tuple[Index, ...]


def from_description(table: dict[str, Any]) -> TableIndexes:
    """The keys and global secondary indexes of a table, from DescribeTable's "Table"."""
    indexes = []
    for gsi in table.get("GlobalSecondaryIndexes") or []:
        projection = gsi.get("Projection") or {}
        indexes.append(
            Index(
                name=gsi["IndexName"],
                keys=tuple(k["AttributeName"] for k in gsi["KeySchema"]),
                projection=projection.get("ProjectionType", "ALL"),
                included=tuple(projection.get("NonKeyAttributes") or ()),
            )
        )
    return TableIndexes(tuple(k["AttributeName"] for k in table["KeySchema"]), tuple(indexes))


def index_item(item: Item | None, table_keys: tuple[str, ...], index: Index) -> Item | None:
    """What `index` holds of `item`; None when the item is not in it (missing, or sparse)."""
    if item is None or any(k not in item for k in index.keys):
        return None
    if index.projection == "ALL":
        return dict(item)
    wanted = set(table_keys) | set(index.keys)
    if index.projection == "INCLUDE":
        wanted |= set(index.included)
    return {name: value for name, value in item.items() if name in wanted}


def index_write_units(before: Item | None, after: Item | None, table: TableIndexes) -> int:
    """Write units of one item write (before -> after; None: no item) across the table's indexes."""
    units = 0
    for index in table.indexes:
        old, new = index_item(before, table.table_keys, index), index_item(after, table.table_keys, index)
        if old is None and new is None:
            continue
        if old is None or new is None:
            units += write_units(item_size(old if new is None else new))
        elif any(old[k] != new[k] for k in index.keys):
            units += write_units(item_size(old)) + write_units(item_size(new))
        elif old != new:
            units += write_units(max(item_size(old), item_size(new)))
    return units


def item_write_units(before: Item | None, after: Item | None, table: TableIndexes) -> tuple[int, int]:
    """(table units, index units) of one item write: the table's by the larger image, at least one."""
    return write_units(max(item_size(before), item_size(after))), index_write_units(before, after, table)
