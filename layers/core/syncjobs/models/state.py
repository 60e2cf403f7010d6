"""What syncjobs remembers about an entity it wrote: the target's id and a hash of what it wrote."""

from __future__ import annotations

from typing import NamedTuple


class EntityState(NamedTuple):
    """A named tuple, not a frozen dataclass: a shard makes one per entity it writes, and a frozen
    dataclass sets each field through object.__setattr__ (as much as the rest of the state's part of
    the engine); a tuple is built in one step, is as immutable, and compares field by field."""

    entity_id: str
    target_id: str
    hash: str
    run_id: str = ""  # the run that last wrote it ...
    outcome: str = ""  # ... and what that run counted (created/updated): a retried shard repeats it
