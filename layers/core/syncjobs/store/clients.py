"""boto3 clients, made once per process and shared by threads (clients are thread-safe).

Endpoint and credentials come from the standard AWS environment (AWS_ENDPOINT_URL points every
client at the local moto server in the local stack and the tests).

`client_hooks`: callables given each new client, to register on its botocore events. Production
registers none; the local stack registers its IAM check there (syncjobs_local.iam), so every call
the code makes is checked against the acting function's policy before it is sent.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_lock = threading.Lock()

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    signature_version="s3v4",
    max_pool_connections=32,
    connect_timeout=5,
    read_timeout=30,
)


# AWS requests made by this process, per "service.Operation": what a run costs (see `make bench`).
requests: Counter[str] = Counter()

# Called with each client made here, once, before it is handed out.
client_hooks: list[Callable[[Any], None]] = []


def _count(model: Any, **_: Any) -> None:
    requests[f"{model.service_model.service_name}.{model.name}"] += 1


@cache
def _client(service: str) -> Any:
    made = boto3.session.Session().client(service, config=_CONFIG)  # type: ignore[call-overload]
    made.meta.events.register("before-call.*.*", _count)
    for hook in client_hooks:
        hook(made)
    return made


def client(service: str) -> Any:
    with _lock:
        return _client(service)


def reset() -> None:
    """Forget every client (tests that switch endpoints or credentials)."""
    with _lock:
        _client.cache_clear()
