"""What syncjobs remembers about an entity it wrote: the target's id and a hash of what it wrote."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EntityState:
    entity_id: str
    target_id: str
    hash: str
    run_id: str = ""  # the run that last wrote it ...
    outcome: str = ""  # ... and what that run counted (created/updated): a retried shard repeats it
