"""Decide create, update or skip by comparing a hash of the mapped entity with the stored state."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    SKIP = "skip"


def entity_hash(resource: dict[str, Any]) -> str:
    canonical = json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def decide(stored_hash: str | None, new_hash: str, always_write: bool) -> Action:
    if stored_hash is None:
        return Action.CREATE
    if always_write or stored_hash != new_hash:
        return Action.UPDATE
    return Action.SKIP
