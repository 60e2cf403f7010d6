"""The fault suite's machinery: a simulated clock, a target that fails, throttles and takes time, kills
at chosen points, poisoned shards, and a driver that does what the SQS event source mappings do while
it redelivers after a kill and delivers twice.

Time is simulated where waiting for it would make a hundred cases slow: each target call takes
`latency_s` of the clock the handlers' Lambda contexts count down by, a Retry-After is waited on that
clock, and a continuation's SQS delay is recorded but not waited for. Everything else is real: HTTP to
scim2-server, boto3 to moto, the run_shard handler with a Lambda-shaped event.
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
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from syncjobs.connectors.csv_s3 import CsvS3SourceConnector
from syncjobs.connectors.scim import ScimTargetConnector
from syncjobs.deadline import Budget
from syncjobs.models.job import JobDefinition
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import Run, ShardSpec
from syncjobs.store.entity_state import EntityStateStore
from syncjobs.store.objects import LogObjects
from syncjobs.store.queue import ShardQueue
from syncjobs.store.runs import RunStore
from syncjobs.store.secrets import get_secret
from syncjobs.workflows import finalize as finalize_module
from syncjobs.workflows import pacing as pacing_module
from syncjobs_local.invocations import InvocationTimedOut
from syncjobs_local.lambda_events import sqs_event
from syncjobs_local.stack import LocalStack
from tests.e2e.helpers import log_rows, scim_users

KILL_POINTS = ("target_write", "after_state_write", "after_parts_written", "after_counted", "in_finalize")


class WorkerDied(BaseException):
    """The Lambda process dies: nothing after this point runs, nothing before it is undone."""


class SimClock:
    """Seconds that pass only when the suite says so (a target call, a wait on a Retry-After)."""

    def __init__(self) -> None:
        self._now = 1000.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


class FlakyTransport(httpx.BaseTransport):
    """Fails a share of calls with 503 or a timeout (some after applying them), refuses a share with
    429 and a Retry-After, and makes each call take `latency_s` on the simulated clock.

    Never fails the same request more than three times in a row, so the job's five retries always get
    through and the expected outcome of every entity stays known."""

    def __init__(
        self, rng: random.Random, clock: SimClock, rate: float, throttle: float, retry_after_max: int, latency_s: float
    ) -> None:
        self._inner = httpx.HTTPTransport()
        self._rng, self._clock = rng, clock
        self._rate, self._throttle, self._retry_after_max, self._latency = rate, throttle, retry_after_max, latency_s
        self._streak: dict[str, int] = {}
        self._lock = threading.Lock()
        self.injected = 0
        self.throttled = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        key = f"{request.method} {request.url} {request.content!r}"
        self._clock.advance(self._latency)
        with self._lock:
            roll = self._rng.random()
            fail = self._streak.get(key, 0) < 3 and roll < self._rate + self._throttle
            self._streak[key] = self._streak.get(key, 0) + 1 if fail else 0
            kind = ""
            if fail and roll < self._throttle:
                kind = "429"
                retry_after = self._rng.randint(1, self._retry_after_max)
                self.throttled += 1
            elif fail:
                kind = self._rng.choice(["503", "timeout", "503-after", "timeout-after"])
                self.injected += 1
        if kind.endswith("-after"):
            self._inner.handle_request(request).read()  # the target applied it; the answer is lost
        if kind.startswith("timeout"):
            raise httpx.ReadTimeout("injected timeout", request=request)
        if kind.startswith("503"):
            return httpx.Response(503, json={"detail": "injected"}, request=request)
        if kind == "429":
            headers = {"Retry-After": str(retry_after)}
            return httpx.Response(429, headers=headers, json={"detail": "slow down"}, request=request)
        return self._inner.handle_request(request)


class Faults:
    """Arms one kill at a random moment of one kind (or none), and makes targets flaky and slow."""

    def __init__(
        self,
        rng: random.Random,
        kill_point: str | None,
        occurrences: dict[str, int],
        transport: FlakyTransport,
        clock: SimClock,
    ) -> None:
        """`occurrences`: how often each kill point is sure to be reached in the run (the kill comes
        at a random one of them)."""
        self.kill_point, self.transport, self.clock = kill_point, transport, clock
        self.countdown = rng.randint(1, occurrences[kill_point]) if kill_point else 0
        self.killed = 0
        self.delays: list[int] = []  # the SQS delays continuations asked for
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

    def target_for(self, job: JobDefinition, budget: Budget | None = None) -> ScimTargetConnector:
        token = get_secret(job.target.token_secret) if job.target.token_secret else None
        target = ScimTargetConnector(
            job.target, token, job.retry, sleep=self.clock.advance, transport=self.transport, budget=budget
        )
        for name in ("create", "update", "delete"):
            original = getattr(target, name)

            def killing(*args: Any, __original: Callable[..., Any] = original) -> Any:
                self.tick("group_write" if args[0] == "groups" else "target_write")
                return __original(*args)

            setattr(target, name, killing)
        return target


class Poison:
    """While armed, reading shard `shard_id` raises, as a shard would whose range the source cannot serve."""

    REASON = "the export's range cannot be read (injected)"

    def __init__(self, shard_id: str | None) -> None:
        self.shard_id = shard_id
        self.armed = shard_id is not None

    @contextmanager
    def applied(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        read = CsvS3SourceConnector.read

        def failing(self_: CsvS3SourceConnector, shard: ShardSpec, since: str | None = None) -> Any:
            if self.armed and shard.shard_id == self.shard_id:
                raise RuntimeError(Poison.REASON)
            return read(self_, shard, since)

        with monkeypatch.context() as m:
            m.setattr(CsvS3SourceConnector, "read", failing)
            yield


@contextmanager
def injected(monkeypatch: pytest.MonkeyPatch, faults: Faults) -> Iterator[None]:
    """Kill points: after entity state is written, after a shard's manifest (its last part) is
    written, after the shard is counted, after finalize wrote a merged log; and at target writes.
    Continuations are sent without their delay (recorded in `faults.delays`): the suite's time is
    simulated, and their Retry-After was waited for on that clock's terms by the cut itself."""

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

    send = ShardQueue.send

    def undelayed(self: ShardQueue, bodies: list[str], delay_s: int = 0) -> None:
        if delay_s:
            faults.delays.append(delay_s)
        send(self, bodies)

    with monkeypatch.context() as m:
        m.setattr(pacing_module, "target_for", faults.target_for)
        m.setattr(finalize_module, "target_for", faults.target_for)
        m.setattr(EntityStateStore, "put_many", after(EntityStateStore.put_many, lambda *a: "after_state_write"))
        m.setattr(RunStore, "complete_shard", after(RunStore.complete_shard, lambda *a, **k: "after_counted"))
        m.setattr(LogObjects, "put", after(LogObjects.put, put_point))
        m.setattr(ShardQueue, "send", undelayed)
        yield


def drive(aws: LocalStack, run_id: str, rng: random.Random, duplicates: float, concurrent: bool) -> Run:
    """Do what the SQS event source mappings of the shard queue and its DLQ do, but redeliver at once
    after a dead worker or a failure, and deliver a share of messages twice (also at the same time)."""
    assert aws.resources is not None
    sqs = boto3.client("sqs")
    queues = [(aws.resources.name(q), aws.resources.attr(q, "Arn")) for q in ("ShardQueue", "ShardDeadLetterQueue")]
    runs = RunStore()
    for _ in range(800):
        run = runs.get(run_id).run
        if run.status.is_final:
            return run
        received = 0
        for url, arn in queues:
            messages = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=30, AttributeNames=["All"]
            ).get("Messages", [])
            received += len(messages)
            deliveries = [m for m in messages for _ in range(2 if rng.random() < duplicates else 1)]
            rng.shuffle(deliveries)

            def deliver(message: dict[str, Any], arn: str = arn) -> bool:
                try:
                    answer = aws.invoke("RunShardFunction", sqs_event([message], arn, "us-east-1"))
                except (WorkerDied, InvocationTimedOut):  # killed: at a kill point, or by its real Timeout
                    return False
                except BatchProcessingError:  # every record failed (a poisoned shard): Lambda retries it
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
        if not received:  # a finalize handed to the advance function (an asynchronous invoke) may be under way
            aws.lambda_api.drain()
    raise AssertionError(f"run {run_id} did not finish")


def assert_exact(
    aws: LocalStack,
    run: Run,
    job_id: str,
    expected: dict[Outcome, set[str]],
    in_target: set[str],
    provisioned: set[str] | None = None,
) -> None:
    """Counts, logs, target and entity state are exactly what the source says should have happened:
    every entity logged once under its outcome, none created twice, none missing, none left behind."""
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
    assert set(users) == in_target
    state = EntityStateStore().provisioned(job_id, "users")
    assert state == {eid: users[eid]["id"] for eid in (in_target if provisioned is None else provisioned)}
