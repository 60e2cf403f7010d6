"""An invocation's time budget, and the signal that it is spent.

Lambda ends an invocation at its Timeout; the work must end first. A `Budget` is the invocation's
remaining time less a reserve for recording what it did (outcome parts, the count, the continuation
message). Whatever would wait or call past it raises `OutOfTime` instead, and the shard hands the rest
of its range on to a continuation (syncjobs.workflows.run_shard).

The reserve follows what recording really took: AWS calls are fast on most days, but S3 or DynamoDB
can answer slowly for a while (and the local stand-in, all in one process, is slower still). Each
invocation's recording time is observed, and the next invocations in the same container reserve half
as much again as the slowest of the recent ones, but never more than MAX_RESERVE_SHARE of their time,
so every invocation still has time to make progress. Recordings older than FORGET_AFTER_S are
forgotten: a slow spell must not raise the reserve for good (invocations that do no work record
nothing, so without forgetting, one slow spell could leave no time for work ever after).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

MIN_RESERVE_S = 1.0
MAX_RESERVE_S = 10.0
RESERVE_SHARE = 0.4  # of the invocation's time, kept for recording what it did
MAX_RESERVE_SHARE = 0.6  # however slow recording was, 40% of the time is left for starting and work
OBSERVED_MARGIN = 1.5  # the reserve covers the slowest recent recording this many times over
RECENT = 20  # recordings remembered
FORGET_AFTER_S = 60.0  # a recording older than this no longer counts


class OutOfTime(Exception):
    """The budget cannot cover the next call or wait. `resume_after_s`: how long the target asked us to
    wait (a Retry-After), so the continuation is delayed by as much."""

    def __init__(self, reason: str, resume_after_s: float = 0.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.resume_after_s = resume_after_s


class RecordingTimes:
    """How long recent invocations took to record what they did (thread-safe: the local stack runs
    invocations of one function in threads of one process)."""

    def __init__(
        self, keep: int = RECENT, forget_after_s: float = FORGET_AFTER_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._recent: deque[tuple[float, float]] = deque(maxlen=keep)  # (observed at, seconds)
        self._forget_after_s = forget_after_s
        self._clock = clock
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        with self._lock:
            self._recent.append((self._clock(), seconds))

    def slowest(self) -> float:
        """The slowest recording of the recent ones not yet forgotten (0 when there is none)."""
        oldest = self._clock() - self._forget_after_s
        with self._lock:
            return max((seconds for at, seconds in self._recent if at >= oldest), default=0.0)

    def clear(self) -> None:
        with self._lock:
            self._recent.clear()


recording_times = RecordingTimes()


def reserve_for(total_s: float, slowest_recording_s: float = 0.0) -> float:
    """The seconds kept back from work: a share of the invocation, or more when recording was slow."""
    static = min(MAX_RESERVE_S, max(MIN_RESERVE_S, RESERVE_SHARE * total_s))
    return min(max(static, OBSERVED_MARGIN * slowest_recording_s), MAX_RESERVE_SHARE * total_s)


@dataclass(frozen=True)
class Budget:
    remaining_s: Callable[[], float]
    total_s: float
    reserve_s: float  # the least kept back; more while `recorded` says recording is slow
    recorded: RecordingTimes | None = None

    @classmethod
    def unlimited(cls) -> Budget:
        return cls(lambda: math.inf, math.inf, 0.0)

    @classmethod
    def of_invocation(cls, remaining_ms: Callable[[], int], recorded: RecordingTimes | None = None) -> Budget:
        """From a Lambda context's `get_remaining_time_in_millis`, read at the invocation's start; the
        reserve follows `recorded` (this container's recording times, default: the module's), also
        while the invocation runs: a slow recording elsewhere in the container counts at once."""
        total = remaining_ms() / 1000
        return cls(lambda: remaining_ms() / 1000, total, reserve_for(total), recorded or recording_times)

    def reserve(self) -> float:
        if self.recorded is None:
            return self.reserve_s
        return max(self.reserve_s, reserve_for(self.total_s, self.recorded.slowest()))

    def left(self) -> float:
        """Seconds that may still be spent on work (negative: already into the reserve)."""
        return self.remaining_s() - self.reserve()

    def fresh(self) -> bool:
        """More than half of the invocation is left: enough to start a step of unknown length (finalize)."""
        return self.remaining_s() > self.total_s / 2

    def check(self, what: str, needs_s: float = 0.0, resume_after_s: float = 0.0) -> None:
        """Raise OutOfTime unless `needs_s` more seconds fit in the budget."""
        if self.left() <= needs_s:
            raise OutOfTime(f"no time left in this invocation for {what}", resume_after_s)
