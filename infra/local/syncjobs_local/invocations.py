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

import ctypes
import sys
import threading
import traceback
from collections.abc import Callable
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


@dataclass
class InvocationLog:
    """Every invocation killed by its timeout since the last reset (tests assert on it)."""

    killed: list[Killed] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, entry: Killed) -> None:
        with self._lock:
            self.killed.append(entry)

    def clear(self) -> None:
        with self._lock:
            self.killed.clear()


def _raise_in(thread: threading.Thread) -> None:
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(InvocationKilled))


def run_with_timeout(
    function: str, request_id: str, timeout_s: float, call: Callable[[], Any], log: InvocationLog
) -> Any:
    """`call()` in a thread of its own; its result or error, or InvocationTimedOut at the deadline."""
    outcome: dict[str, Any] = {}
    # The handler's thread is stopped by its id; once it has ended, a new thread may get the same id.
    # The guard makes "has it ended?" and "stop it" one step, so the stop never hits another thread.
    guard = threading.Lock()
    ended = threading.Event()

    def target() -> None:
        try:
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
            raise InvocationTimedOut(function, timeout_s)
    thread.join()  # it has set `ended`: it is on its way out
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")
