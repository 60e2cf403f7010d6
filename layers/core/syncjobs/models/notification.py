"""Notification records shared by the rules, the store and the mail renderer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HeldMail:
    """A mail the daily cap held back: listed in the next mail that goes to the recipient."""

    key: str  # <run_id>#<kind>
    run_id: str
    kind: str
    status: str
    at: str
