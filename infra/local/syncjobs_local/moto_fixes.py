"""Fixes to moto where it differs from AWS in a way that breaks correct code, applied in-process.

DynamoDB transactions: moto's transact_write_items deep-copies the tables it touches and, when the
transaction is cancelled, puts those copies back whole. Any write another request made in between
is silently lost (seen here: ten concurrent start_run calls lost a committed run item). DynamoDB
itself is atomic per item and per transaction, so the local stack serialises moto's DynamoDB writes.
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


def serialise_dynamodb_writes() -> None:
    global _applied
    if _applied:
        return
    from moto.dynamodb.models import DynamoDBBackend

    for name in _WRITES:
        setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    _applied = True
