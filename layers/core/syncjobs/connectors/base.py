"""The protocols a source and a target implement, and the records they exchange with the engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from syncjobs.models.run import ShardSpec


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One entity as the source holds it: its stable id and its raw attributes."""

    row: int
    entity_id: str
    attributes: dict[str, Any]
    modified: str | None = None  # when the source last changed it, if the source says (delta reads)
    members: tuple[str, ...] | None = None  # groups: the source ids of the member users


@dataclass(frozen=True, slots=True)
class SourceRowError:
    """A record the source could not turn into an entity (bad encoding, missing id, ...).

    `id_known` is False when not even the entity's id could be read: such a row makes the read
    incomplete, so no deletes may follow it (the entity might be the unreadable row).
    """

    row: int
    entity_id: str
    reason: str
    id_known: bool = False


class Source(Protocol):
    name: str

    def plan(self, shard_size: int) -> list[ShardSpec]:
        """Cut the source into shards of about `shard_size` entities each, in a stable order."""
        ...

    def read(self, shard: ShardSpec, since: str | None = None) -> Iterator[SourceRecord | SourceRowError]:
        """The records of one shard, in order. `since`: a delta read's watermark, for a source that can
        filter by modified time itself (the engine filters again, so a source may ignore it)."""
        ...

    def rest(self, shard: ShardSpec, last_row: int, last_id: str | None) -> ShardSpec:
        """What of `shard` follows the record read as row `last_row` (entity `last_id`, when it had
        one): the range a continuation reads when an invocation could not finish the shard."""
        ...

    def close(self) -> None: ...


class TargetError(Exception):
    """The target refused or failed an operation on one entity."""

    def __init__(self, reason: str, *, retryable: bool = False, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.status = status


class TargetEntityGone(TargetError):
    """The entity the state points at no longer exists in the target (deleted out of band)."""


@dataclass(frozen=True, slots=True)
class Written:
    target_id: str
    adopted: bool = False  # an existing target entity with the same key was taken over
    reason: str = ""  # why, for the log: which entity was matched and by what


def _no_owner(_target_id: str) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class Claim:
    """Who creates an entity, for deciding whether an existing one may be adopted (engine.adoption):
    the source entity's id, and which entity of the job owns a target id (None: no entity)."""

    entity_id: str
    owner_of: Callable[[str], str | None] = _no_owner


class Target(Protocol):
    name: str

    def create(self, entity_type: str, resource: dict[str, Any], claim: Claim | None = None) -> Written:
        """Create an entity; an existing one is adopted only as `claim` allows (None: the resource's
        externalId names the entity, and no entity of the job owns anything)."""
        ...

    def update(self, entity_type: str, target_id: str, resource: dict[str, Any]) -> Written: ...

    def delete(self, entity_type: str, target_id: str) -> None:
        """Delete an entity; one that is already gone counts as deleted."""
        ...
