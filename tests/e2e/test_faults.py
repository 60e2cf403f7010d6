"""Fault injection: workers killed at random points, shard messages delivered twice (also at the same
time), and a target that fails 20% of calls with 5xx, 429 or timeouts, some after it applied them.

Each case runs an initial read and a second read with removed, changed and added users, driving the
shard queue itself so it can kill and redeliver. After each run the target, the entity state, the
counts and the logs must agree exactly with what the source says should have happened.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import boto3
import httpx
import pytest

from syncjobs.admin import operations
from syncjobs.connectors.scim import ScimTargetConnector
from syncjobs.models.job import JobDefinition
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import Run
from syncjobs.store.entity_state import EntityStateStore
from syncjobs.store.objects import LogObjects
from syncjobs.store.runs import RunStore
from syncjobs.store.secrets import get_secret
from syncjobs.workflows import finalize as finalize_module
from syncjobs.workflows import run_shard as run_shard_module
from syncjobs_local.demo import prepare, start
from syncjobs_local.lambda_events import sqs_event
from syncjobs_local.sample_data import write_groups
from tests.e2e.helpers import log_rows, rewrite_export, scim_groups, scim_users

pytestmark = pytest.mark.e2e

USERS, SHARD_SIZE = 60, 10
KILL_POINTS = ("target_write", "after_state_write", "after_parts_written", "after_counted", "in_finalize")


class WorkerDied(BaseException):
    """The Lambda process dies: nothing after this point runs, nothing before it is undone."""


class FlakyTransport(httpx.BaseTransport):
    """Fails a share of calls with 503, 429 (Retry-After: 0) or a timeout; some after applying them.

    Never fails the same request more than three times in a row, so the job's five retries always get
    through and the expected outcome of every entity stays known."""

    def __init__(self, rng: random.Random, rate: float) -> None:
        self._inner = httpx.HTTPTransport()
        self._rng, self._rate = rng, rate
        self._streak: dict[str, int] = {}
        self._lock = threading.Lock()
        self.injected = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        key = f"{request.method} {request.url} {request.content!r}"
        with self._lock:
            fail = self._streak.get(key, 0) < 3 and self._rng.random() < self._rate
            self._streak[key] = self._streak.get(key, 0) + 1 if fail else 0
            kind = self._rng.choice(["503", "429", "timeout", "503-after", "timeout-after"]) if fail else ""
            self.injected += bool(fail)
        if kind.endswith("-after"):
            self._inner.handle_request(request).read()  # the target applied it; the answer is lost
        if kind.startswith("timeout"):
            raise httpx.ReadTimeout("injected timeout", request=request)
        if kind.startswith("503"):
            return httpx.Response(503, json={"detail": "injected"}, request=request)
        if kind == "429":
            return httpx.Response(429, headers={"Retry-After": "0"}, json={"detail": "slow down"}, request=request)
        return self._inner.handle_request(request)


class Faults:
    """Arms one kill at a random moment of one kind, and makes targets flaky."""

    def __init__(self, rng: random.Random, kill_point: str, flaky_rate: float, occurrences: dict[str, int]) -> None:
        """`occurrences`: how often each kill point is sure to be reached in the run (the kill comes
        at a random one of them)."""
        self.rng, self.kill_point, self.flaky_rate = rng, kill_point, flaky_rate
        self.countdown = rng.randint(1, occurrences[kill_point])
        self.killed = 0
        self.transport = FlakyTransport(rng, flaky_rate)
        self._lock = threading.Lock()

    def tick(self, point: str) -> None:
        with self._lock:
            if point != self.kill_point or self.killed:
                return
            self.countdown -= 1
            if self.countdown > 0:
                return
            self.killed += 1
        raise WorkerDied(point)

    def target_for(self, job: JobDefinition) -> ScimTargetConnector:
        token = get_secret(job.target.token_secret) if job.target.token_secret else None
        target = ScimTargetConnector(job.target, token, job.retry, sleep=lambda s: None, transport=self.transport)
        for name in ("create", "update", "delete"):
            original = getattr(target, name)

            def killing(*args: Any, __original: Callable[..., Any] = original) -> Any:
                self.tick("group_write" if args[0] == "groups" else "target_write")
                return __original(*args)

            setattr(target, name, killing)
        return target


@contextmanager
def injected(monkeypatch: pytest.MonkeyPatch, faults: Faults) -> Iterator[None]:
    """Kill points: after entity state is written, after a shard's manifest (its last part) is
    written, after the shard is counted, after finalize wrote a merged log; and at target writes."""

    def after(original: Callable[..., Any], point: Callable[..., str | None]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            out = original(*args, **kwargs)
            if name := point(*args, **kwargs):
                faults.tick(name)
            return out

        return wrapper

    def put_point(_self: Any, key: str, *_: Any) -> str | None:
        if key.endswith("manifest.json"):
            return "after_parts_written"
        return "in_finalize" if "/logs/" in key else None

    with monkeypatch.context() as m:
        m.setattr(run_shard_module, "target_for", faults.target_for)
        m.setattr(finalize_module, "target_for", faults.target_for)
        m.setattr(EntityStateStore, "put_many", after(EntityStateStore.put_many, lambda *a: "after_state_write"))
        m.setattr(RunStore, "complete_shard", after(RunStore.complete_shard, lambda *a: "after_counted"))
        m.setattr(LogObjects, "put", after(LogObjects.put, put_point))
        yield


def drive(aws, run_id: str, rng: random.Random, duplicates: float, concurrent: bool) -> Run:
    """Do what the SQS event source mapping does, but redeliver on a dead worker and deliver twice."""
    sqs = boto3.client("sqs")
    url = aws.resources.name("ShardQueue")
    arn = aws.resources.attr("ShardQueue", "Arn")
    runs = RunStore()
    for _ in range(500):
        run = runs.get(run_id).run
        if run.status.is_final:
            return run
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=30
        ).get("Messages", [])
        deliveries = [m for m in messages for _ in range(2 if rng.random() < duplicates else 1)]
        rng.shuffle(deliveries)

        def deliver(message: dict[str, Any]) -> bool:
            try:
                answer = aws.invoke("RunShardFunction", sqs_event([message], arn, "us-east-1"))
            except WorkerDied:
                return False
            return not answer["batchItemFailures"]

        if concurrent:
            with ThreadPoolExecutor(3) as pool:
                results = list(pool.map(deliver, deliveries))
        else:
            results = [deliver(m) for m in deliveries]
        done = {d["MessageId"] for d, ok in zip(deliveries, results, strict=True) if ok}
        for m in messages:
            if m["MessageId"] in done:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            else:  # redelivered at once, as after the visibility timeout
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    raise AssertionError(f"run {run_id} did not finish")


def assert_exact(aws, run: Run, job_id: str, expected: dict[Outcome, set[str]], source_ids: set[str]) -> None:
    totals = run.totals()
    assert {o: totals[o] for o in Outcome} == {o: len(expected.get(o, set())) for o in Outcome}, run.run_id
    for outcome in Outcome:
        ids = expected.get(outcome, set())
        if not ids:
            assert outcome.value not in run.log_keys
            continue
        rows = log_rows(aws, run.log_keys[outcome.value])
        assert sorted(r["entity_id"] for r in rows) == sorted(ids), outcome  # no duplicate, none missing
    users = scim_users(aws)
    assert set(users) == source_ids  # nothing created twice, nothing left behind, nothing missing
    state = EntityStateStore().provisioned(job_id, "users")
    assert state == {eid: users[eid]["id"] for eid in source_ids}


CASES = [(seed, KILL_POINTS[seed % len(KILL_POINTS)]) for seed in range(20)]


@pytest.mark.parametrize(("seed", "kill_point"), CASES, ids=[f"seed{s}-{k}" for s, k in CASES])
def test_runs_stay_exact_under_kills_duplicates_and_a_flaky_target(aws, monkeypatch, seed, kill_point):
    rng = random.Random(seed)
    prepared = prepare(
        aws, users=USERS, bad_rows=False, shard_size=SHARD_SIZE, retry={"retries": 5, "delay_seconds": 0}
    )
    all_ids = {f"E{i:06d}" for i in range(1, USERS + 1)}

    # Given faults armed for the initial read, when it runs, then it is exact
    shards = USERS // SHARD_SIZE
    initial = {
        "target_write": USERS,
        "after_state_write": shards,
        "after_parts_written": shards,
        "after_counted": shards,
        "in_finalize": 1,
    }
    faults = Faults(rng, kill_point, 0.2, initial)
    with injected(monkeypatch, faults):
        run = drive(aws, start(aws, prepared.job_id), rng, duplicates=0.5, concurrent=seed % 2 == 0)
    assert_exact(aws, run, prepared.job_id, {Outcome.CREATED: all_ids}, all_ids)
    assert faults.killed == 1
    assert faults.transport.injected > 0

    # Given 3 users removed, 3 changed and 3 added, when the second read runs under new faults
    ids = sorted(all_ids)
    removed, changed = set(rng.sample(ids, 3)), set()
    changed = set(rng.sample(sorted(all_ids - removed), 3))
    added = {f"A{i:06d}" for i in range(3)}

    def change(rows: list[list[str]]) -> list[list[str]]:
        out = [r for r in rows if r[0] not in removed]
        for r in out:
            if r[0] in changed:
                r[4] = "Changed title"
        out += [
            [a, f"{a.lower()}@example.com", "New", "User", "Clerk", "Sales", "active", "2026-11-21T00:00:00Z"]
            for a in sorted(added)
        ]
        return out

    rewrite_export(prepared.bucket, prepared.key, change)
    second = {
        "target_write": 9,
        "after_state_write": 1,
        "after_parts_written": shards,
        "after_counted": shards,
        "in_finalize": 1,
    }
    faults = Faults(rng, KILL_POINTS[(seed + 2) % len(KILL_POINTS)], 0.2, second)
    with injected(monkeypatch, faults):
        run = drive(aws, start(aws, prepared.job_id), rng, duplicates=0.5, concurrent=seed % 2 == 1)
    unchanged = all_ids - removed - changed
    assert_exact(
        aws,
        run,
        prepared.job_id,
        {Outcome.CREATED: added, Outcome.UPDATED: changed, Outcome.DELETED: removed, Outcome.SKIPPED: unchanged},
        (all_ids - removed) | added,
    )
    assert faults.killed == 1
    assert run.failures == []


GROUP_KILL_POINTS = ("group_write", "after_counted", "after_parts_written", "in_finalize")
GROUP_CASES = [(seed, GROUP_KILL_POINTS[seed % len(GROUP_KILL_POINTS)]) for seed in range(100, 108)]


@pytest.mark.parametrize(("seed", "kill_point"), GROUP_CASES, ids=[f"seed{s}-{k}" for s, k in GROUP_CASES])
def test_groups_stay_exact_under_kills_duplicates_and_a_flaky_target(aws, monkeypatch, seed, kill_point):
    """Kills in the groups phase: at a group create (the target has it, the state does not: found by
    externalId, never created twice), and at the shard count that completes the users phase (the
    groups shards must still be queued, once)."""
    rng = random.Random(seed)
    users = 30
    prepared = prepare(aws, users=users, bad_rows=False, shard_size=10, retry={"retries": 5, "delay_seconds": 0})
    user_ids = sorted(f"E{i:06d}" for i in range(1, users + 1))
    members = {f"G{g}": user_ids[g * 5 : g * 5 + 8] for g in range(5)}
    boto3.client("s3").put_object(
        Bucket=prepared.bucket, Key="exports/groups.csv", Body=write_groups({g: f"Team {g}" for g in members}, members)
    )
    document = dict(prepared.document)
    document["entity_types"] = ["users", "groups"]
    document["mapping"] = {**document["mapping"], "groups": {"displayName": "{{ name }}"}}
    groups_file = {"key": "exports/groups.csv", "id_column": "group_id", "members_column": "members"}
    document["source"] = {**document["source"], "groups": groups_file}
    operations.apply_job(operations.parse_job(document))

    occurrences = {"group_write": 5, "after_counted": 4, "after_parts_written": 4, "in_finalize": 1}
    faults = Faults(rng, kill_point, 0.2, occurrences)
    with injected(monkeypatch, faults):
        run = drive(aws, start(aws, prepared.job_id), rng, duplicates=0.5, concurrent=seed % 2 == 0)

    assert faults.killed == 1
    assert {t: {o: n for o, n in c.items() if n} for t, c in run.counts.items()} == {
        "users": {"created": users},
        "groups": {"created": 5},
    }
    created = log_rows(aws, run.log_keys["created"])
    assert sorted(r["entity_id"] for r in created if r["entity_type"] == "groups") == sorted(members)
    target_users = scim_users(aws)
    target_groups = scim_groups(aws)
    headers = {"Authorization": f"Bearer {aws.scim.token}"}
    listed = httpx.get(f"{aws.scim.url}/Groups", params={"count": 0}, headers=headers).json()
    assert listed["totalResults"] == 5  # no group created twice
    for gid, ids in members.items():
        assert {m["value"] for m in target_groups[gid]["members"]} == {target_users[e]["id"] for e in ids}
    assert EntityStateStore().provisioned(prepared.job_id, "groups") == {g: target_groups[g]["id"] for g in members}
