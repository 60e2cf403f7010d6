"""What happened to one entity in a run."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    SKIPPED = "skipped"
    FAILED = "failed"


OUTCOMES: tuple[Outcome, ...] = tuple(Outcome)


class EntityType(StrEnum):
    USERS = "users"
    GROUPS = "groups"
