"""Fixes to moto where it differs from AWS in a way that breaks correct code, applied in-process.

DynamoDB transactions: moto's transact_write_items deep-copies every table it touches before it
starts and, when the transaction is cancelled, puts those copies back whole. Three things go wrong:

- any write another request made in between is silently lost (seen here: ten concurrent start_run
  calls lost a committed run item). DynamoDB itself is atomic per item and per transaction, so the
  local stack serialises moto's DynamoDB writes;
- the copy put back carries a copy of the table's stream: a stream reader's iterator still points at
  the stream it was reading, which from then on never sees another record (seen here: after a
  duplicate start_run was refused, no later run reached the notifier);
- each transaction costs a copy of the whole table, so a long-lived local AWS grows slower and bigger
  with every item it holds (seen here: the fault suite's pytest worker reached 20 GB and was killed).

So the tables are not copied: only the items the transaction names are saved, and a cancelled
transaction puts those items back and cuts the stream back to where it stood (a cancelled
transaction leaves no stream record in DynamoDB).

Reads see an item whole, as DynamoDB's per-item atomicity promises: moto updates an item in place
and its reads hand out the live item, serialised after the read returns, so a read racing a write
could see a run `succeeded` without the log keys the same update set (seen here: a finalize in the
advance function while the fault suite polled the run). get_item and query take the write lock and
hand out copies.

And one for speed: moto's server finds the backend of every request under one lock, by listing its
own package directory and trying a few hundred URL patterns. Under ten concurrent workers that lock
was where a third of the time went, and invocations ran past their Timeout while recording what they
did. The answer depends only on the host, so it is remembered per host.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable
from typing import Any

_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_lock = threading.RLock()
_applied = False
_in_transaction = threading.local()


def writes_held() -> threading.RLock:
    """The lock moto's DynamoDB writes take (hold it to read what no write or cancelled transaction
    is changing meanwhile, e.g. a table's stream)."""
    return _lock


def _locked(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return original(*args, **kwargs)

    return locked


def _copied(original: Callable[..., Any]) -> Callable[..., Any]:
    """A read under the write lock, handing out copies of what it found (see the module's docstring)."""

    @functools.wraps(original)
    def read(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return copy.deepcopy(original(*args, **kwargs))

    return read


def _table_deepcopy(table: Any, memo: dict[int, Any]) -> Any:
    """A table inside a transaction is not copied (its items are saved one by one instead); any other
    copy of a table (a backup) is the usual deep copy."""
    if getattr(_in_transaction, "active", False):
        return table
    made = table.__class__.__new__(table.__class__)
    memo[id(table)] = made
    for name, value in table.__dict__.items():
        setattr(made, name, copy.deepcopy(value, memo))
    return made


def _key_of(table: Any, op_type: str, op: dict[str, Any]) -> tuple[Any, Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    attrs = op["Item"] if op_type == "Put" else op["Key"]
    hash_value = DynamoType(attrs[table.hash_key_attr])
    range_value = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr is not None else None
    return hash_value, range_value


def _saved_items(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    """(table, hash key, range key, a copy of the item or None) for each item the transaction names."""
    saved = []
    for entry in transact_items:
        try:
            op_type, op = next(iter(entry.items()))
            table = backend.tables[op["TableName"]]
            hash_value, range_value = _key_of(table, op_type, op)
        except (KeyError, StopIteration, AttributeError, TypeError):
            continue  # malformed: moto refuses it before it writes anything
        saved.append((table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))))
    return saved


def _put_back(table: Any, hash_value: Any, range_value: Any, item: Any) -> None:
    """The item as it was, without a stream record."""
    if range_value is not None:
        if item is None:
            table.items.get(hash_value, {}).pop(range_value, None)
        else:
            table.items[hash_value][range_value] = item
    elif item is None:
        table.items.pop(hash_value, None)
    else:
        table.items[hash_value] = item


def _item_level_rollback(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def transact(backend: Any, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        saved = _saved_items(backend, transact_items)
        streams = {id(t.stream_shard): (t.stream_shard, len(t.stream_shard.items)) for t, *_ in saved if t.stream_shard}
        _in_transaction.active = True
        try:
            return original(backend, transact_items, *args, **kwargs)
        except Exception:
            for table, hash_value, range_value, item in saved:
                _put_back(table, hash_value, range_value, item)
            for shard, length in streams.values():
                del shard.items[length:]  # the cancelled writes' records
            raise
        finally:
            _in_transaction.active = False

    return transact


def _remembered(original: Callable[[Any, str | None], Any]) -> Callable[[Any, str | None], Any]:
    known: dict[tuple[int, str | None], Any] = {}

    @functools.wraps(original)
    def backend_for_host(app: Any, host: str | None) -> Any:
        key = (id(app), host)
        if key not in known:
            known[key] = original(app, host)
        return known[key]

    return backend_for_host


def serialise_dynamodb_writes() -> None:
    global _applied
    if _applied:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    DomainDispatcherApplication.get_backend_for_host = _remembered(  # type: ignore[method-assign,assignment]
        DomainDispatcherApplication.get_backend_for_host
    )

    Table.__deepcopy__ = _table_deepcopy  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = _item_level_rollback(DynamoDBBackend.transact_write_items)  # type: ignore[method-assign]
    for name in _WRITES:
        setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    for name in ("get_item", "query"):
        setattr(DynamoDBBackend, name, _copied(getattr(DynamoDBBackend, name)))
    _applied = True
