"""Lambda's Timeout, locally: each invocation runs in its own thread and is over at its deadline.

Lambda stops an invocation that runs past its function's Timeout ("Task timed out after N seconds"):
what it did so far stays, nothing after the deadline happens, and the caller sees a failure (an SQS
message reappears after its visibility timeout, a stream batch is retried, an async invocation is
retried). Locally the caller gets `InvocationTimedOut` at the deadline, and the handler's thread is
stopped by an exception raised into it: it takes effect at the thread's next Python instruction, so
a request already on the wire completes at its server (as one in flight on Lambda may), but nothing
the handler would do after it runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
import threading
import time
import traceback
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


class InvocationTimedOut(RuntimeError):
    """The invocation ran past its function's Timeout (what Lambda reports as Sandbox.Timedout)."""

    def __init__(self, function: str, timeout_s: float) -> None:
        super().__init__(f"{function}: Task timed out after {timeout_s:.2f} seconds")
        self.function = function
        self.timeout_s = timeout_s


class InvocationKilled(BaseException):
    """Raised into a handler's thread at its deadline; a BaseException so no `except Exception` eats it."""


@dataclass(frozen=True)
class Killed:
    function: str
    request_id: str
    timeout_s: float
    where: str = ""  # the handler's innermost frames of our code when it was stopped


def _where(thread: threading.Thread) -> str:
    frame = sys._current_frames().get(thread.ident or -1)
    if frame is None:
        return ""
    ours = [f for f in traceback.extract_stack(frame) if "/syncjobs" in f.filename or "/functions/" in f.filename]
    return " < ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in reversed(ours[-4:]))


@dataclass(frozen=True)
class Invocation:
    """One invocation as Lambda would bill and report it: its duration (to its end or its deadline) and,
    when its memory was measured, the peak of the Python heap allocations made while it ran (tracemalloc
    started at its start; no other invocation runs meanwhile)."""

    function: str
    request_id: str
    seconds: float
    timed_out: bool
    peak_bytes: int | None = None
    observed: Any = None  # what InvocationLog.observe gave for it (entered and left in the handler's thread)


class _Exclusive:
    """Many invocations at once, or one measured invocation alone (a readers-writer lock)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running = 0
        self._alone = False
        self._waiting_alone = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._alone and not self._waiting_alone)
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        with self._changed:
            self._waiting_alone += 1
            self._changed.wait_for(lambda: not self._alone and self._running == 0)
            self._waiting_alone -= 1
            self._alone = True
        try:
            yield
        finally:
            with self._changed:
                self._alone = False
                self._changed.notify_all()


@dataclass
class InvocationLog:
    """Every invocation killed by its timeout since the last reset (tests assert on it), and every
    invocation's duration (`make bench` reads them).

    `measure_memory(function)`: whether to measure this invocation's memory (None: none). A measured
    invocation waits until no other runs, runs alone (its clock starts then) with tracemalloc on, and
    records its heap peak. The in-process moto server's allocations for its requests are in that peak
    too: an upper bound of the handler's own.

    `observe(function)`: a context manager to enter and leave around each handler call, in the handler's
    own thread (None: none); it is kept on the invocation's record (`make bench` times invocations so).
    """

    killed: list[Killed] = field(default_factory=list)
    done: list[Invocation] = field(default_factory=list)
    measure_memory: Callable[[str], bool] | None = None
    observe: Callable[[str], contextlib.AbstractContextManager[Any]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _exclusive: _Exclusive = field(default_factory=_Exclusive)

    def record(self, entry: Killed) -> None:
        with self._lock:
            self.killed.append(entry)

    def record_done(self, entry: Invocation) -> None:
        with self._lock:
            self.done.append(entry)

    def clear(self) -> None:
        with self._lock:
            self.killed.clear()
            self.done.clear()


def _raise_in(thread: threading.Thread) -> None:
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(InvocationKilled))


def run_with_timeout(
    function: str, request_id: str, timeout_s: float, call: Callable[[], Any], log: InvocationLog
) -> Any:
    """`call()` in a thread of its own; its result or error, or InvocationTimedOut at the deadline."""
    if log.measure_memory is None:
        return _run(function, request_id, timeout_s, call, log, measure=False)
    if not log.measure_memory(function):
        with log._exclusive.shared():
            return _run(function, request_id, timeout_s, call, log, measure=False)
    with log._exclusive.alone():
        tracemalloc.start()
        try:
            return _run(function, request_id, timeout_s, call, log, measure=True)
        finally:
            tracemalloc.stop()


def _run(
    function: str, request_id: str, timeout_s: float, call: Callable[[], Any], log: InvocationLog, measure: bool
) -> Any:
    started = time.perf_counter()
    observer = log.observe(function) if log.observe is not None else None

    def done(timed_out: bool) -> None:
        peak = tracemalloc.get_traced_memory()[1] if measure else None
        seconds = timeout_s if timed_out else time.perf_counter() - started
        log.record_done(Invocation(function, request_id, seconds, timed_out, peak, observer))

    outcome: dict[str, Any] = {}
    # The handler's thread is stopped by its id; once it has ended, a new thread may get the same id.
    # The guard makes "has it ended?" and "stop it" one step, so the stop never hits another thread.
    guard = threading.Lock()
    ended = threading.Event()

    def target() -> None:
        try:
            with observer if observer is not None else contextlib.nullcontext():
                outcome["result"] = call()
        except InvocationKilled:
            pass
        except BaseException as err:  # handed to the caller, as Lambda reports a function error
            outcome["error"] = err
        finally:
            with guard:
                ended.set()

    thread = threading.Thread(target=target, name=f"lambda-{function}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    with guard:
        if not ended.is_set():
            where = _where(thread)
            _raise_in(thread)
            log.record(Killed(function, request_id, timeout_s, where))
            done(timed_out=True)
            raise InvocationTimedOut(function, timeout_s)
    thread.join()  # it has set `ended`: it is on its way out
    done(timed_out=False)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")
