"""The bench's meter on the local AWS (tests/bench/metering.py): the entity-state table's writes bill its
by_target index as the table's DescribeTable defines it, deletes by the deleted item's size, and each
request counts on the invocation that made it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from syncjobs.models.state import EntityState
from syncjobs.store import clients
from syncjobs.store.entity_state import EntityStateStore
from syncjobs_local.stack import LocalStack
from tests.bench import tracing
from tests.bench.costs import Usage
from tests.bench.metering import Meter


@pytest.fixture
def meter(aws: LocalStack) -> Iterator[Meter]:
    meter = Meter()
    clients.client_hooks.insert(0, meter.install)
    clients.reset()
    yield meter
    clients.client_hooks.remove(meter.install)
    clients.reset()


def metered(meter: Meter, work: Callable[[], None]) -> Usage:
    """What `work` is billed, run in a thread of its own (the meter leaves the main thread's calls out)."""
    before = meter.snapshot()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as err:  # handed to the test
            failed.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    if failed:
        raise failed[0]
    return meter.snapshot() - before


def test_entity_state_writes_bill_the_by_target_index_only_when_target_id_appears_changes_or_goes(
    meter: Meter,
) -> None:
    store = EntityStateStore()
    two = [EntityState("E1", "t-1", "h1"), EntityState("E2", "t-2", "h2")]

    # When two entities are first written / Then one table unit and one index unit each
    created = metered(meter, lambda: store.put_many("job", "users", two, "2026-12-03"))
    assert (created.dynamodb_wru, created.dynamodb_index_wru) == (2, 2)

    # When they are written again with a new hash, the same target ids / Then the KEYS_ONLY index is untouched
    rehashed = [EntityState("E1", "t-1", "h9"), EntityState("E2", "t-2", "h9")]
    unchanged = metered(meter, lambda: store.put_many("job", "users", rehashed, "2026-12-04"))
    assert (unchanged.dynamodb_wru, unchanged.dynamodb_index_wru) == (2, 0)

    # When one entity's target id changes / Then its index entry is deleted and put: two units
    moved = metered(meter, lambda: store.put_many("job", "users", [EntityState("E1", "t-9", "h9")], "2026-12-05"))
    assert (moved.dynamodb_wru, moved.dynamodb_index_wru) == (1, 2)

    # When both are deleted / Then each deletes its index entry too
    deleted = metered(meter, lambda: store.delete_many("job", "users", ["E1", "E2"]))
    assert (deleted.dynamodb_wru, deleted.dynamodb_index_wru) == (2, 2)


def test_a_batch_delete_is_billed_by_the_size_of_the_item_it_deletes(meter: Meter) -> None:
    # Given an entity whose state is over 2 KB (a long hash) / When it is deleted / Then three units
    store = EntityStateStore()
    big = EntityState("E1", "t-1", "h" * 2100)
    metered(meter, lambda: store.put_many("job", "users", [big], "2026-12-03"))
    deleted = metered(meter, lambda: store.delete_many("job", "users", ["E1"]))
    assert deleted.dynamodb_wru == 3
    assert deleted.dynamodb_index_wru == 1  # the KEYS_ONLY entry holds the keys only


def test_each_request_counts_on_the_invocation_that_made_it(meter: Meter) -> None:
    # Given a trace entered in the working thread, as the local stack enters it around a handler
    trace = tracing.Trace("F")

    def work() -> None:
        with trace:
            EntityStateStore().put_many("job", "users", [EntityState("E1", "t-1", "h1")], "2026-12-03")

    metered(meter, work)
    # Then the invocation made one BatchWriteItem (the meter's own reads aside are not counted)
    assert trace.operations == {"dynamodb.BatchWriteItem": 1}
    [(_, sent, answered)] = trace.requests
    assert sent <= answered
