"""The SCIM target at the job's pace: a token before every write (never before a read), the job told of
429s and successes, and a Retry-After longer than a short pause handed to the queue (OutOfTime), not
slept. JobPace over an in-memory stand-in for the store: batches of tokens, short waits slept, long
ones raised."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import httpx
import pytest

from syncjobs.connectors.scim import ScimTargetConnector
from syncjobs.deadline import Budget, OutOfTime
from syncjobs.engine.pace import PaceState
from syncjobs.models.job import RetryPolicy, ScimTarget
from syncjobs.workflows.pacing import JobPace, WriteSlots

T = TypeVar("T")


class RecordingPace:
    def __init__(self) -> None:
        self.events: list[str] = []

    def before_write(self) -> None:
        self.events.append("token")

    def succeeded(self) -> None:
        self.events.append("ok")

    def throttled(self, retry_after_s: float) -> None:
        self.events.append(f"429 {retry_after_s:g}")


def connector(answers: list[httpx.Response], pace: RecordingPace, max_pause_s: float | None, slept: list[float]):
    def answer(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    config = ScimTarget(type="scim", base_url="https://scim.example/v2")
    return ScimTargetConnector(
        config,
        "t0ken",
        RetryPolicy(retries=3, delay_seconds=0),
        sleep=slept.append,
        transport=httpx.MockTransport(answer),
        pace=pace,
        max_pause_s=max_pause_s,
    )


def throttled(retry_after: str) -> httpx.Response:
    return httpx.Response(429, json={"detail": "slow down"}, headers={"Retry-After": retry_after})


def test_every_write_takes_a_token_and_the_job_hears_of_429s_and_successes():
    # Given a target that throttles the first create with Retry-After 1 (a short pause)
    pace, slept = RecordingPace(), []
    target = connector([throttled("1"), httpx.Response(201, json={"id": "u-1"})], pace, 1.0, slept)

    # When a user is created
    written = target.create("users", {"userName": "a@x", "externalId": "a"})

    # Then each attempt took a token, the 429 and the success were told, and the short pause was slept
    assert written.target_id == "u-1"
    assert pace.events == ["token", "429 1", "token", "ok"]
    assert slept == [1.0]


def test_a_retry_after_longer_than_a_short_pause_is_handed_to_the_queue_not_slept():
    pace, slept = RecordingPace(), []
    target = connector([throttled("7")], pace, 1.0, slept)

    with pytest.raises(OutOfTime) as raised:
        target.create("users", {"userName": "a@x", "externalId": "a"})

    assert raised.value.resume_after_s == 7.0
    assert slept == []
    assert pace.events == ["token", "429 7"]


def test_reads_take_no_token():
    pace, slept = RecordingPace(), []
    target = connector([httpx.Response(200, json={"id": "urn"})], pace, 1.0, slept)
    target.schema("users")
    assert pace.events == []


class MemoryPaceStore:
    """store.pace.PaceStore's contract, in memory: `change` applies a pure step to the state."""

    def __init__(self) -> None:
        self.state = PaceState()
        self.changes = 0

    def change(self, job_id: str, step: Callable[[PaceState], tuple[T, PaceState]]) -> T:
        answer, after = step(self.state)
        if after != self.state:
            self.changes += 1
            self.state = after
        return answer


def job_pace(store: MemoryPaceStore, now: list[float], slept: list[float], limit: float = 100.0) -> JobPace:
    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    return JobPace(store, "j1", limit, Budget.unlimited(), clock=lambda: now[0], sleep=sleep)  # type: ignore[arg-type]


def test_tokens_come_from_the_job_s_bucket_a_batch_at_a_time_and_short_waits_are_slept():
    # Given a job limited to 100 writes a second
    store, now, slept = MemoryPaceStore(), [1000.0], []
    pace = job_pace(store, now, slept)

    # When 150 writes are made at once (the bucket holds 100)
    for _ in range(150):
        pace.before_write()

    # Then the store was written once per batch of 25, and the last 50 waited for tokens to accrue
    assert store.changes == 6
    assert sum(slept) == pytest.approx(0.5, abs=0.01)


def test_a_429_pauses_the_job_and_a_long_pause_is_handed_to_the_queue():
    store, now, slept = MemoryPaceStore(), [1000.0], []
    pace = job_pace(store, now, slept)
    pace.before_write()

    # When the target answers 429 with Retry-After 5
    pace.throttled(5.0)

    # Then the job's rate is halved and the next write is not slept for: it raises with the wait
    assert store.state.rate == pytest.approx(50.0)
    with pytest.raises(OutOfTime) as raised:
        pace.before_write()
    assert raised.value.resume_after_s == pytest.approx(5.0)
    assert slept == []


def test_successes_bring_the_job_s_rate_back():
    store, now, slept = MemoryPaceStore(), [1000.0], []
    pace = job_pace(store, now, slept)
    pace.throttled(0.0)
    assert store.state.rate == pytest.approx(50.0)
    for _ in range(30):
        pace.before_write()
        pace.succeeded()
    pace.before_write()  # the successes reach the store with the next batch
    assert store.state.rate is None or store.state.rate > 50.0


def test_write_slots_are_shared_by_the_job_s_invocations_and_freed_on_release():
    store = MemoryPaceStore()
    first, second = (WriteSlots(store, "j1", 6, clock=lambda: 1000.0) for _ in range(2))  # type: ignore[arg-type]
    budget = Budget(lambda: 60.0, 60.0, 10.0)

    assert first.claim(4, budget) == 4
    assert second.claim(4, budget) == 2
    first.release()
    assert second.claim(4, budget) == 4
