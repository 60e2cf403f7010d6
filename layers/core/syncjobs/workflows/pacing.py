"""A shard invocation's share of its job's pace (engine/pace.py, kept by store/pace.py).

- `JobPace`: the write tokens of this invocation, taken from the job's shared bucket a batch at a time;
  a 429 lowers the job's rate and pauses every worker for its Retry-After; successes raise it again.
  A wait for tokens longer than MAX_PAUSE_S (or than the budget) is not slept: it raises OutOfTime
  carrying the wait, so the shard counts what it finished and the rest waits on the queue.
- `WriteSlots`: how many entities this invocation may write at once, leased from the job's
  `max_concurrency` until the invocation's end (or its expiry, if the worker dies).
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable

from syncjobs.connectors.registry import target_for
from syncjobs.connectors.scim import ScimTargetConnector
from syncjobs.deadline import Budget, OutOfTime
from syncjobs.engine import pace
from syncjobs.models.job import JobDefinition
from syncjobs.observability import logger
from syncjobs.store.errors import TransientStoreError
from syncjobs.store.pace import PaceStore

MAX_PAUSE_S = 1.0  # the longest wait slept inside Lambda; longer ones are a delayed continuation
DEFAULT_WRITERS = 1  # entities a shard writes at once when the job sets no max_concurrency (as before)
SHARD_WRITERS = 4  # the most a shard writes at once, its share of the job's max_concurrency
LEASE_MARGIN_S = 30.0  # a lease outlives its invocation's Timeout by this much
UNBOUNDED_LEASE_S = 900.0  # a lease of an invocation without a budget (Lambda's longest Timeout)


class JobPace:
    """Thread-safe: the shard's writer threads share it."""

    def __init__(
        self,
        store: PaceStore,
        job_id: str,
        limit: float,
        budget: Budget,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        max_pause_s: float = MAX_PAUSE_S,
    ) -> None:
        self._store, self._job_id, self._limit = store, job_id, limit
        self._budget, self._clock, self._sleep, self._max_pause_s = budget, clock, sleep, max_pause_s
        self._lock = threading.Lock()
        self._tokens = 0
        self._successes = 0  # since the last time the store heard of them
        self.throttles = 0

    def before_write(self) -> None:
        """Take one write token, waiting a short while for one if need be."""
        with self._lock:
            while self._tokens <= 0:
                successes, self._successes = self._successes, 0
                now = self._clock()

                def step(
                    state: pace.PaceState, now: float = now, successes: int = successes
                ) -> tuple[pace.Taken, pace.PaceState]:
                    taken = pace.take(pace.recovered(state, self._limit, successes), now, self._limit, 1 << 30)
                    return taken, taken.state

                taken = self._store.change(self._job_id, step)
                if taken.granted:
                    self._tokens = taken.granted
                    break
                wait_s = taken.wait_s
                if wait_s > self._max_pause_s:
                    raise OutOfTime("the job's write pace asks to wait", resume_after_s=wait_s)
                self._budget.check("waiting for the job's write pace", needs_s=wait_s, resume_after_s=wait_s)
                self._sleep(wait_s)
            self._tokens -= 1

    def succeeded(self) -> None:
        with self._lock:
            self._successes += 1

    def throttled(self, retry_after_s: float) -> None:
        """A 429: the job's rate drops and every worker of the job pauses for the Retry-After."""
        now = self._clock()

        def step(state: pace.PaceState) -> tuple[float | None, pace.PaceState]:
            after = pace.throttled(state, now, self._limit, retry_after_s)
            return after.rate, after

        with self._lock:
            self._tokens = 0
            self._successes = 0
            self.throttles += 1
        rate = self._store.change(self._job_id, step)
        logger.info(
            "target throttled: the job slows down",
            extra={"job_id": self._job_id, "rate": rate, "retry_after_s": retry_after_s},
        )


class WriteSlots:
    """This invocation's lease of the job's write slots (`max_concurrency`)."""

    def __init__(self, store: PaceStore, job_id: str, most: int, clock: Callable[[], float] = time.time) -> None:
        self._store, self._job_id, self.most, self._clock = store, job_id, most, clock
        self._holder = uuid.uuid4().hex[:12]

    def claim(self, want: int, budget: Budget) -> int:
        """Slots granted (0: the job's writers are all busy elsewhere)."""
        lease_s = budget.total_s + LEASE_MARGIN_S if math.isfinite(budget.total_s) else UNBOUNDED_LEASE_S
        now = self._clock()
        return self._store.change(
            self._job_id, lambda state: pace.claim_slots(state, now, self._holder, want, self.most, lease_s)
        )

    def release(self) -> None:
        """Best effort: a release that keeps losing races (or is throttled) leaves the lease to expire
        at its `until`. Raising here would throw away the shard's finished work for a retry."""
        try:
            self._store.change(self._job_id, lambda state: (None, pace.released(state, self._holder)))
        except TransientStoreError:
            logger.warning("write slots left to expire", extra={"job_id": self._job_id, "holder": self._holder})


def paced_target(job: JobDefinition, budget: Budget, writes: bool = True) -> ScimTargetConnector:
    """The job's target for this invocation, its writes (creates, updates, deletes) kept to the job's
    `max_writes_per_second` when the job sets one and the run `writes`."""
    target = target_for(job, budget)
    limit = job.target.max_writes_per_second
    target.pace_writes(
        JobPace(PaceStore(), job.job_id, limit, budget) if writes and limit is not None else None, MAX_PAUSE_S
    )
    return target
