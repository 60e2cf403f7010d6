"""Each local invocation's trace (tests/bench/tracing.py, through the local stack's InvocationLog.observe):
the CPU time of its own threads, not of threads started elsewhere; its target waits; the bench's overhead
taken out."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from syncjobs_local.invocations import InvocationLog, run_with_timeout
from tests.bench import tracing


@pytest.fixture(autouse=True)
def installed() -> Iterator[None]:
    tracing.install()
    yield
    tracing.uninstall()


def spin(cpu_s: float) -> None:
    """Burn `cpu_s` of this thread's CPU time."""
    started = time.thread_time()
    while time.thread_time() - started < cpu_s:
        pass


def traced(call: object) -> tracing.Trace:
    log = InvocationLog(observe=tracing.observe)
    run_with_timeout("F", "r1", 30, call, log)  # type: ignore[arg-type]
    [done] = log.done
    assert isinstance(done.observed, tracing.Trace)
    return done.observed


def test_an_invocation_s_cpu_includes_the_pool_threads_it_starts() -> None:
    # Given a handler that burns 50 ms itself and 2 x 50 ms in a pool of its own
    def handler() -> None:
        spin(0.05)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(spin, [0.05, 0.05]))

    # When it is invoked / Then its trace holds the CPU of all three threads
    assert traced(handler).cpu_s >= 0.15


def test_a_thread_started_outside_the_invocation_is_not_its_cpu() -> None:
    # Given a thread started before the invocation, burning CPU while the handler waits for it
    go, done = threading.Event(), threading.Event()

    def elsewhere() -> None:
        go.wait(10)
        spin(0.2)
        done.set()

    other = threading.Thread(target=elsewhere)
    other.start()

    def handler() -> None:
        go.set()
        done.wait(10)

    # Then the invocation's CPU is its own (a wait costs none), not the other thread's 200 ms
    assert traced(handler).cpu_s < 0.1
    other.join()


def test_an_invocation_s_http_requests_are_its_target_waits() -> None:
    # Given a target that notes when it takes each request and when it answers
    handled: list[tuple[float, float]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        taken = time.perf_counter()
        response = httpx.Response(201)
        handled.append((taken, time.perf_counter()))
        return response

    def handler() -> None:
        with httpx.Client(transport=httpx.MockTransport(answer)) as http:
            http.post("http://target/Users")
            http.post("http://target/Users")

    # Then two waits are recorded, each spanning the whole time the target had its request
    waits = sorted(traced(handler).waits)
    assert len(waits) == len(handled) == 2
    assert all(
        start <= taken <= answered <= end for (start, end), (taken, answered) in zip(waits, handled, strict=True)
    )


def test_cpu_spent_in_the_bench_s_overhead_is_not_the_invocation_s() -> None:
    def handler() -> None:
        with tracing.overhead():
            spin(0.2)

    assert traced(handler).cpu_s < 0.1


def test_without_observe_an_invocation_has_no_trace() -> None:
    log = InvocationLog()
    run_with_timeout("F", "r1", 5, lambda: None, log)
    assert log.done[0].observed is None
    assert tracing.current.get() is None
