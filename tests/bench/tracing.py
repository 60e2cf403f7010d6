"""What each invocation on the local stack does that its billed duration on Lambda depends on: its own CPU
time, its AWS requests, its waits for the target (the inputs of duration.py).

A `Trace` is entered around each handler call, in the handler's thread (the local stack's
`InvocationLog.observe`), and is the invocation's context variable there. It is found from
  - the threads the invocation starts (its writer and reader pools): a thread started while a trace is
    current adds its CPU time to that trace when it ends (`install` wraps threading.Thread);
  - the AWS requests it makes (metering.py's hooks, which see the context variable: the pools copy the
    invocation's context into their tasks);
  - its HTTP requests to the target: httpx.Client.send is timed (`install` wraps it).
moto's server threads are started by the server, outside any invocation: their CPU is not counted. CPU
spent in the bench's own metering and in the local stand-in's IAM check, which a deployed function does not
do, is measured (`overhead`) and taken out.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections import Counter
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import httpx

current: contextvars.ContextVar[Trace | None] = contextvars.ContextVar("bench_invocation_trace", default=None)


class Trace:
    """One invocation's CPU time, AWS requests and target waits (thread-safe)."""

    def __init__(self, function: str) -> None:
        self.function = function
        self._lock = threading.Lock()
        self._cpu_s = 0.0
        self._overhead_s = 0.0
        self._requests: list[tuple[str, float, float]] = []
        self._waits: list[tuple[float, float]] = []
        self._token: contextvars.Token[Trace | None] | None = None
        self._started_cpu = 0.0

    # ------------------------------------------------------------------ around the handler call
    def __enter__(self) -> Trace:
        self._token = current.set(self)
        self._started_cpu = time.thread_time()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.add_cpu(time.thread_time() - self._started_cpu)
        if self._token is not None:
            current.reset(self._token)

    # ------------------------------------------------------------------ what it did
    def add_cpu(self, seconds: float) -> None:
        with self._lock:
            self._cpu_s += seconds

    def add_overhead(self, seconds: float) -> None:
        with self._lock:
            self._overhead_s += seconds

    def add_request(self, operation: str, start: float, end: float) -> None:
        with self._lock:
            self._requests.append((operation, start, end))

    def add_wait(self, start: float, end: float) -> None:
        with self._lock:
            self._waits.append((start, end))

    @property
    def cpu_s(self) -> float:
        """The invocation's own CPU time: all its threads, less the bench's and the IAM check's."""
        with self._lock:
            return max(0.0, self._cpu_s - self._overhead_s)

    @property
    def requests(self) -> list[tuple[str, float, float]]:
        """Each AWS request: ("service.Operation", local start, local end)."""
        with self._lock:
            return list(self._requests)

    @property
    def operations(self) -> Counter[str]:
        with self._lock:
            return Counter(op for op, _, _ in self._requests)

    @property
    def waits(self) -> list[tuple[float, float]]:
        with self._lock:
            return list(self._waits)


def observe(function: str) -> Trace:
    """For InvocationLog.observe: a new trace per invocation."""
    return Trace(function)


@contextlib.contextmanager
def overhead() -> Iterator[None]:
    """CPU spent inside is not the invocation's own (the bench's metering in its threads)."""
    trace = current.get()
    started = time.thread_time()
    try:
        yield
    finally:
        if trace is not None:
            trace.add_overhead(time.thread_time() - started)


class _Stamp:
    """botocore handlers that time the handlers between them (register_first / register_last)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def start(self, **_: Any) -> None:
        self._local.started = time.thread_time()

    def stop(self, **_: Any) -> None:
        trace, started = current.get(), getattr(self._local, "started", None)
        if trace is not None and started is not None:
            trace.add_overhead(time.thread_time() - started)
        self._local.started = None


_stamp = _Stamp()


def _sent(request: Any, **_: Any) -> None:
    request.context["bench_sent"] = time.perf_counter()


def time_local_checks(client: Any) -> None:
    """A client hook: the CPU of every before-parameter-build handler (the local IAM check is one; the
    few of botocore's own are trivial) is overhead; and the moment each request is sent (its last
    attempt's) is kept in its context as "bench_sent", for its interval."""
    client.meta.events.register_first("before-parameter-build", _stamp.start)
    client.meta.events.register_last("before-parameter-build", _stamp.stop)
    client.meta.events.register("before-send", _sent)


# ---------------------------------------------------------------------- process-wide wrappers
_installed: dict[str, Any] = {}


def install() -> None:
    """Wrap threading.Thread (a thread started in an invocation adds its CPU to it) and httpx.Client.send
    (a request made in an invocation is a wait for the target). Idempotent; `uninstall` undoes it."""
    if _installed:
        return
    start, run, send = threading.Thread.start, threading.Thread.run, httpx.Client.send
    _installed.update(start=start, run=run, send=send)

    def traced_start(self: threading.Thread) -> None:
        self._bench_trace = current.get()  # type: ignore[attr-defined]
        start(self)

    def traced_run(self: threading.Thread) -> None:
        trace = getattr(self, "_bench_trace", None)
        if trace is None or self.name.startswith("lambda-"):  # a handler's thread is traced by its own
            run(self)
            return
        started = time.thread_time()
        try:
            run(self)
        finally:
            trace.add_cpu(time.thread_time() - started)

    def traced_send(self: httpx.Client, *args: Any, **kwargs: Any) -> httpx.Response:
        trace = current.get()
        started = time.perf_counter()
        try:
            return send(self, *args, **kwargs)  # type: ignore[no-any-return]
        finally:
            if trace is not None:
                trace.add_wait(started, time.perf_counter())

    threading.Thread.start = traced_start  # type: ignore[method-assign]
    threading.Thread.run = traced_run  # type: ignore[method-assign]
    httpx.Client.send = traced_send  # type: ignore[method-assign]


def uninstall() -> None:
    if not _installed:
        return
    threading.Thread.start = _installed["start"]  # type: ignore[method-assign]
    threading.Thread.run = _installed["run"]  # type: ignore[method-assign]
    httpx.Client.send = _installed["send"]  # type: ignore[method-assign]
    _installed.clear()
