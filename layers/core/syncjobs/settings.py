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
    links_base_url: str  # the links function's URL: mail links sign on click (empty: presigned links)
    link_signing_key_secret: str  # Secrets Manager secret holding the links' HMAC key
    log_retention_days: int  # logs expire after this: no mail link outlives them
    start_run_function: str  # what the admin API invokes to start a run
    finalize_function: str = ""  # what run_shard hands a finalize to when its own invocation is too short
    shard_dead_letter_queue_arn: str = ""  # run_shard counts what arrives from there as dead parts
    shard_max_receives: int = 5  # the shard queue's maxReceiveCount (the dead-letter reason quotes it)
    stall_minutes: int = 30  # an active run with no progress for this long is ended by the sweep
    continuations: bool = True  # test hook (CONTINUATIONS=off): shards ignore their deadline, as before
    loopback_http: bool = False  # the local stack (LOOPBACK_HTTP=allowed): secrets may go over http to loopback
    sender_name: str = "syncjobs"  # the display name of mails' From (SENDER_NAME; empty: the address alone)
    provision_function: str = ""  # what the admin API invokes (synchronously) to provision one entity now
    schedule_group: str = ""  # EventBridge Scheduler's group of the jobs' schedules (SCHEDULE_GROUP)
    scheduler_role_arn: str = ""  # the role Scheduler assumes to invoke start_run (SCHEDULER_ROLE_ARN)
    schedule_dead_letter_queue_arn: str = ""  # where Scheduler puts fires it could not deliver


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} is not set")
    return value


def _whole(name: str, default: str) -> int:
    value = os.environ.get(name, default)
    try:
        return int(value)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {value!r}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings(
        jobs_table=_required("JOBS_TABLE"),
        entity_state_table=_required("ENTITY_STATE_TABLE"),
        log_bucket=_required("LOG_BUCKET"),
        shard_queue_url=_required("SHARD_QUEUE_URL"),
        sender_email=os.environ.get("SENDER_EMAIL", ""),
        link_lifetime_seconds=_whole("LINK_LIFETIME_SECONDS", "43200"),
        secrets_prefix=os.environ.get("SECRETS_PREFIX", "syncjobs/"),
        details_base_url=os.environ.get("DETAILS_BASE_URL", "").rstrip("/"),
        links_base_url=os.environ.get("LINKS_BASE_URL", "").rstrip("/"),
        link_signing_key_secret=os.environ.get("LINK_SIGNING_KEY_SECRET", ""),
        log_retention_days=_whole("LOG_RETENTION_DAYS", "7"),
        start_run_function=os.environ.get("START_RUN_FUNCTION", ""),
        finalize_function=os.environ.get("FINALIZE_FUNCTION", ""),
        shard_dead_letter_queue_arn=os.environ.get("SHARD_DEAD_LETTER_QUEUE_ARN", ""),
        shard_max_receives=_whole("SHARD_MAX_RECEIVES", "5"),
        stall_minutes=_whole("STALL_MINUTES", "30"),
        continuations=os.environ.get("CONTINUATIONS", "on") != "off",
        loopback_http=os.environ.get("LOOPBACK_HTTP", "") == "allowed",
        sender_name=os.environ.get("SENDER_NAME", "syncjobs").strip(),
        provision_function=os.environ.get("PROVISION_FUNCTION", ""),
        schedule_group=os.environ.get("SCHEDULE_GROUP", ""),
        scheduler_role_arn=os.environ.get("SCHEDULER_ROLE_ARN", ""),
        schedule_dead_letter_queue_arn=os.environ.get("SCHEDULE_DEAD_LETTER_QUEUE_ARN", ""),
    )


def reset() -> None:
    get_settings.cache_clear()
