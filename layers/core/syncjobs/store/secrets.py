"""Connector secrets by name: Secrets Manager, or SSM Parameter Store for names starting `ssm:`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from botocore.exceptions import ClientError

from syncjobs.engine.destinations import DESTINATIONS_TAG, parse_destinations
from syncjobs.store.clients import client
from syncjobs.store.errors import NotFound, translate

_TTL_SECONDS = 300.0
_cache: dict[tuple[object, str], tuple[float, str]] = {}
_lock = threading.Lock()


# Whose cache a read goes to. On Lambda a process is one function's: one cache. The local stack runs
# every function in one process and sets this to "the acting function", so that one function's read
# never serves another that may not read the secret (its IAM check would never see the call).
def _one_cache() -> object:
    return None


scope: Callable[[], object] = _one_cache


def get_secret(name: str) -> str:
    """The secret's string value, cached for five minutes per process (rotation-friendly)."""
    now = time.monotonic()
    key = (scope(), name)
    with _lock:
        hit = _cache.get(key)
        if hit and now - hit[0] < _TTL_SECONDS:
            return hit[1]
    try:
        if name.startswith("ssm:"):
            out = client("ssm").get_parameter(Name=name.removeprefix("ssm:"), WithDecryption=True)
            value = str(out["Parameter"]["Value"])
        else:
            value = str(client("secretsmanager").get_secret_value(SecretId=name)["SecretString"])
    except ClientError as err:
        raise translate(err, f"reading secret {name}") from err
    with _lock:
        _cache[key] = (now, value)
    return value


def secret_exists(name: str) -> bool:
    """Whether the secret (or `ssm:` parameter) exists, without reading its value (the admin API checks
    a job's secrets when it is applied: it needs to know they are there, not what they hold). StoreError
    when the question itself is refused."""
    try:
        if name.startswith("ssm:"):
            client("ssm").get_parameter(Name=name.removeprefix("ssm:"), WithDecryption=False)
        else:
            client("secretsmanager").describe_secret(SecretId=name)
    except ClientError as err:
        failure = translate(err, f"looking up secret {name}")
        if isinstance(failure, NotFound):
            return False
        raise failure from err
    return True


def secret_destinations(name: str) -> tuple[str, ...]:
    """The URL prefixes the secret declares it may be sent to (its tag syncjobs:destinations; empty:
    none declared), cached as the values are. NotFound for a missing secret."""
    now = time.monotonic()
    key = (scope(), f"destinations\n{name}")
    with _lock:
        hit = _cache.get(key)
        if hit and now - hit[0] < _TTL_SECONDS:
            return parse_destinations(hit[1])
    try:
        if name.startswith("ssm:"):
            out = client("ssm").list_tags_for_resource(ResourceType="Parameter", ResourceId=name.removeprefix("ssm:"))
            tags = out.get("TagList", [])
        else:
            tags = client("secretsmanager").describe_secret(SecretId=name).get("Tags", [])
    except ClientError as err:
        raise translate(err, f"reading the destinations of secret {name}") from err
    value = " ".join(str(t.get("Value", "")) for t in tags if t.get("Key") == DESTINATIONS_TAG)
    with _lock:
        _cache[key] = (now, value)
    return parse_destinations(value)


def forget() -> None:
    with _lock:
        _cache.clear()
