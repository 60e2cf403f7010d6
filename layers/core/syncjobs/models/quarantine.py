"""A quarantined job's state (the rules are in syncjobs.engine.quarantine)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class Quarantine(BaseModel):
    """A quarantined job's state, as stored on the job and shown by `jobs show`."""

    model_config = ConfigDict(frozen=True)

    since: datetime
    reason: str
    attempts: int = 0  # attempts made after the back-off since the quarantine began
    next_attempt_at: datetime
