"""An invocation's time budget, and the signal that it is spent.

Lambda ends an invocation at its Timeout; the work must end first. A `Budget` is the invocation's
remaining time less a reserve for recording what it did (outcome parts, the count, the continuation
message). Whatever would wait or call past it raises `OutOfTime` instead, and the shard hands the rest
of its range on to a continuation (syncjobs.workflows.run_shard).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

MIN_RESERVE_S = 1.0
MAX_RESERVE_S = 10.0
RESERVE_SHARE = 0.4  # of the invocation's time, kept for recording what it did


class OutOfTime(Exception):
    """The budget cannot cover the next call or wait. `resume_after_s`: how long the target asked us to
    wait (a Retry-After), so the continuation is delayed by as much."""

    def __init__(self, reason: str, resume_after_s: float = 0.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.resume_after_s = resume_after_s


def reserve_for(total_s: float) -> float:
    return min(MAX_RESERVE_S, max(MIN_RESERVE_S, RESERVE_SHARE * total_s))


@dataclass(frozen=True)
class Budget:
    remaining_s: Callable[[], float]
    total_s: float
    reserve_s: float

    @classmethod
    def unlimited(cls) -> Budget:
        return cls(lambda: math.inf, math.inf, 0.0)

    @classmethod
    def of_invocation(cls, remaining_ms: Callable[[], int]) -> Budget:
        """From a Lambda context's `get_remaining_time_in_millis`, read at the invocation's start."""
        total = remaining_ms() / 1000
        return cls(lambda: remaining_ms() / 1000, total, reserve_for(total))

    def left(self) -> float:
        """Seconds that may still be spent on work (negative: already into the reserve)."""
        return self.remaining_s() - self.reserve_s

    def fresh(self) -> bool:
        """More than half of the invocation is left: enough to start a step of unknown length (finalize)."""
        return self.remaining_s() > self.total_s / 2

    def check(self, what: str, needs_s: float = 0.0, resume_after_s: float = 0.0) -> None:
        """Raise OutOfTime unless `needs_s` more seconds fit in the budget."""
        if self.left() <= needs_s:
            raise OutOfTime(f"no time left in this invocation for {what}", resume_after_s)
