"""Fixes to moto where it differs from AWS in a way that breaks correct code, applied in-process.

DynamoDB transactions: moto's transact_write_items deep-copies the tables it touches and, when the
transaction is cancelled, puts those copies back whole. Any write another request made in between
is silently lost (seen here: ten concurrent start_run calls lost a committed run item). DynamoDB
itself is atomic per item and per transaction, so the local stack serialises moto's DynamoDB writes.

The copies put back also carry a copy of the table's stream: a stream reader's iterator still points
at the stream it was reading, which from then on never sees another record (seen here: after a
duplicate start_run was refused, no later run reached the notifier). A cancelled transaction leaves
no stream record in DynamoDB, so the original stream is kept, cut back to where it stood before.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_lock = threading.RLock()
_applied = False


def _locked(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return original(*args, **kwargs)

    return locked


def _keeps_streams(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def transact(backend: Any, *args: Any, **kwargs: Any) -> Any:
        before = {
            name: (table, table.stream_shard, len(table.stream_shard.items))
            for name, table in backend.tables.items()
            if table.stream_shard is not None
        }
        try:
            return original(backend, *args, **kwargs)
        except Exception:
            for name, (table, shard, length) in before.items():
                restored = backend.tables.get(name)
                if restored is not None and restored is not table:
                    del shard.items[length:]  # the cancelled writes' records
                    shard.table = restored
                    restored.stream_shard = shard
            raise

    return transact


def serialise_dynamodb_writes() -> None:
    global _applied
    if _applied:
        return
    from moto.dynamodb.models import DynamoDBBackend

    DynamoDBBackend.transact_write_items = _keeps_streams(DynamoDBBackend.transact_write_items)  # type: ignore[method-assign]
    for name in _WRITES:
        setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    _applied = True
