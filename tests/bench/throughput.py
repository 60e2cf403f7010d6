"""Entities/s of whole runs through the local stack, each as a ratio to a baseline measured in the same
run: the target's best raw create rate (the same users POSTed straight to scim2-server at a few
concurrencies, the best taken), or the write limit of a rate-limited target (syncjobs_local/peer.py)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import yaml

from syncjobs.admin import operations
from syncjobs.models.job import ScimTarget
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import Run
from syncjobs.workflows.pacing import SHARD_WRITERS
from syncjobs_local.demo import EXAMPLE_JOB, SECRET_NAME, prepare, start
from syncjobs_local.peer import Behaviour, PeerProxy
from syncjobs_local.stack import LocalStack
from tests.e2e.helpers import holds_within

CONCURRENCIES = (1, 2, 4, 8, 16)
# the most the job model takes (its field's le)
MAX_CONCURRENCY = next(m.le for m in ScimTarget.model_fields["max_concurrency"].metadata if hasattr(m, "le"))
# How often a measured run is read until it is final. Its length is taken from the end the run records
# (ended_at), so a coarse poll loses no precision, and reading the run item (a GetItem of a few KB that
# moto serves in this process, a few ms of CPU) less often leaves the run more of the machine.
POLL_S = 2.0


def _user(row: dict[str, str]) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": row["email"].strip().lower(),
        "externalId": row["employee_id"],
        "name": {"givenName": row["first_name"], "familyName": row["last_name"]},
        "displayName": f"{row['first_name']} {row['last_name']}",
        "title": row["title"],
        "active": row["status"] == "active",
        "emails": [{"value": row["email"].strip().lower(), "type": "work", "primary": True}],
    }


def raw_create_rates(stack: LocalStack, rows: list[dict[str, str]]) -> dict[int, float]:
    """Per concurrency: creates/s of the same users POSTed straight to an empty target."""
    assert stack.scim is not None
    rates = {}
    for workers in CONCURRENCIES:
        stack.scim.new_tenant()
        headers = {"Authorization": f"Bearer {stack.scim.token}", "Content-Type": "application/scim+json"}
        limits = httpx.Limits(max_connections=workers)
        with httpx.Client(base_url=stack.scim.url, headers=headers, limits=limits, timeout=60) as http:

            def post(row: dict[str, str], http: httpx.Client = http) -> None:
                response = http.post("/Users", json=_user(row))
                if response.status_code != 201:
                    raise RuntimeError(f"raw create answered {response.status_code}: {response.text[:200]}")

            started = time.perf_counter()
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(post, rows))
            rates[workers] = len(rows) / (time.perf_counter() - started)
    return rates


@dataclass(frozen=True)
class Throughput:
    entities: int  # created (the run's own count)
    seconds: float  # from the start request to the end the run recorded (ended_at), else to the deadline
    final: bool  # False: the run was still going at the phase's deadline (the rate is of what it did)
    status: str
    calls: int = 0  # at the peer (rate-limited phase)
    throttled: int = 0
    observed_seconds: float = 0.0  # to when the bench's polling saw the run final (up to its poll interval later)

    @property
    def rate(self) -> float:
        return self.entities / self.seconds


def _target_fields(**wanted: Any) -> dict[str, Any]:
    """The target fields this version of the job model has (others are built in parallel)."""
    return {k: v for k, v in wanted.items() if v is not None and k in ScimTarget.model_fields}


def run_rate(
    stack: LocalStack, users: int, deadline_s: float, proxy: PeerProxy | None = None, **target: Any
) -> Throughput:
    """Create `users` users in an empty target through a whole run; entities/s."""
    assert stack.scim is not None
    document = yaml.safe_load(EXAMPLE_JOB.read_text(encoding="utf-8"))
    base_url = f"{proxy.url}/{stack.scim.tenant}/v2" if proxy else stack.scim.url
    target_document = {**document["target"], "base_url": base_url, "token_secret": SECRET_NAME}
    target_document.update(_target_fields(**target))
    prepared = prepare(stack, users, subscriber=None, bad_rows=False, target=target_document)
    started, started_at = time.perf_counter(), datetime.now(UTC)
    run = _final(start(stack, prepared.job_id), deadline_s)
    observed = time.perf_counter() - started
    recorded = (run.ended_at - started_at).total_seconds() if run.status.is_final and run.ended_at else None
    return Throughput(
        entities=run.totals()[Outcome.CREATED],
        seconds=recorded if recorded is not None and 0 < recorded <= observed else observed,
        observed_seconds=observed,
        final=run.status.is_final,
        status=run.status.value,
        calls=proxy.calls if proxy else 0,
        throttled=proxy.throttled if proxy else 0,
    )


def _final(run_id: str, deadline_s: float) -> Run:
    """The run once final, or as it is at the deadline (as runs.wait_final, polled every POLL_S)."""
    holds_within(lambda: operations.get_run(run_id).status.is_final, deadline_s, every_s=POLL_S)
    return operations.get_run(run_id)


def unlimited_concurrency(shard_workers: int) -> int:
    """The unlimited run's target.max_concurrency (an admin's setting): as many entities written at once
    as the shard workers can write (SHARD_WRITERS each), so no shard waits for a slot. Without it each
    shard writes one entity at a time, and a run of a few shards (500 users: 2) leaves the target idle
    between its writes."""
    return min(shard_workers * SHARD_WRITERS, MAX_CONCURRENCY)


def unlimited(stack: LocalStack, users: int, deadline_s: float, max_concurrency: int) -> Throughput:
    """Create `users` users in an empty, unlimited target, the job writing up to `max_concurrency` at once."""
    return run_rate(stack, users, deadline_s, max_concurrency=max_concurrency)


def rate_limited(stack: LocalStack, users: int, writes_per_second: float, deadline_s: float) -> Throughput:
    assert stack.scim is not None
    proxy = PeerProxy(f"http://127.0.0.1:{stack.scim.port}", Behaviour(max_writes_per_second=writes_per_second)).start()
    try:
        return run_rate(stack, users, deadline_s, proxy, max_writes_per_second=writes_per_second)
    finally:
        proxy.stop()
