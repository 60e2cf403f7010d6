"""Deployment settings, read from the environment the template gives each function.

Read lazily (first use, not import) so that tests and the local stack can set the environment
before any handler runs; `reset()` forgets what was read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


class SettingsError(RuntimeError):
    """A setting the function needs is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    jobs_table: str
    entity_state_table: str
    log_bucket: str
    shard_queue_url: str
    sender_email: str
    link_lifetime_seconds: int
    secrets_prefix: str
    details_base_url: str


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} is not set")
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    lifetime = os.environ.get("LINK_LIFETIME_SECONDS", "43200")
    try:
        link_lifetime = int(lifetime)
    except ValueError:
        raise SettingsError(f"LINK_LIFETIME_SECONDS must be a whole number, got {lifetime!r}") from None
    return Settings(
        jobs_table=_required("JOBS_TABLE"),
        entity_state_table=_required("ENTITY_STATE_TABLE"),
        log_bucket=_required("LOG_BUCKET"),
        shard_queue_url=_required("SHARD_QUEUE_URL"),
        sender_email=os.environ.get("SENDER_EMAIL", ""),
        link_lifetime_seconds=link_lifetime,
        secrets_prefix=os.environ.get("SECRETS_PREFIX", "syncjobs/"),
        details_base_url=os.environ.get("DETAILS_BASE_URL", "").rstrip("/"),
    )


def reset() -> None:
    get_settings.cache_clear()
