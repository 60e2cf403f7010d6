"""The job's pace against its target, as pure arithmetic on one shared state (store/pace.py keeps it).

- Writes a second: a token bucket. Tokens accrue at the job's effective rate, up to one second's worth
  (the burst); a worker takes a batch of them at a time, so it asks the store once per batch, not once
  per write. With none left, it learns how long until the next one.
- Adaptive rate: a 429 halves the effective rate (never below MIN_RATE_SHARE of the limit) and pauses
  every worker of the job for the Retry-After; each write that succeeds raises it again by a small step,
  up to the limit (additive increase, multiplicative decrease).
- Writes in flight: slots leased per worker invocation with an expiry, so the slots of a worker that
  died free themselves; a worker granted none waits on the queue instead of writing.

Times are epoch seconds (all workers share the state, so not a process's monotonic clock).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

BURST_S = 1.0  # the bucket holds at most this many seconds of writes
BATCH_S = 0.25  # a worker takes at most this many seconds of writes at once
MIN_RATE_SHARE = 0.05  # a 429 never lowers the rate below this share of the limit
DECREASE = 0.5  # the rate after a 429, as a share of the rate before
INCREASE_SHARE = 0.02  # each successful write raises the rate by this share of the limit
_EPSILON = 1e-9  # 0.1 s at 100/s is 10 tokens, not 9.999...


@dataclass(frozen=True)
class PaceState:
    tokens: float = 0.0
    at: float = 0.0  # when `tokens` was counted
    rate: float | None = None  # the effective writes a second (None: the limit)
    paused_until: float = 0.0  # a Retry-After: nobody writes before this
    leases: dict[str, tuple[int, float]] = field(default_factory=dict)  # holder -> (slots, expires at)
    version: int = 0  # for the store's conditional write


@dataclass(frozen=True)
class Taken:
    granted: int  # tokens taken (writes allowed now)
    wait_s: float  # when none were granted: how long until one may be
    state: PaceState


def effective_rate(state: PaceState, limit: float) -> float:
    rate = limit if state.rate is None else state.rate
    return min(limit, max(rate, MIN_RATE_SHARE * limit))


def capacity(limit: float, rate: float) -> float:
    return max(1.0, rate * BURST_S)


def refilled(state: PaceState, now: float, limit: float) -> PaceState:
    """The tokens accrued since `state.at` (a bucket never seen before starts full)."""
    rate = effective_rate(state, limit)
    full = capacity(limit, rate)
    if state.at <= 0:
        return replace(state, tokens=full, at=now)
    elapsed = max(0.0, now - state.at)
    return replace(state, tokens=min(full, state.tokens + elapsed * rate), at=max(now, state.at))


def take(state: PaceState, now: float, limit: float, want: int) -> Taken:
    """Take a batch of tokens (`want`, at most BATCH_S of writes), or none and how long until the batch
    has accrued. Whole batches only: a drained bucket handing out one token at a time would cost a
    store write per target write. A refusal leaves the state as it was (nothing to write)."""
    if now < state.paused_until:
        return Taken(0, state.paused_until - now, state)
    full = refilled(state, now, limit)
    rate = effective_rate(full, limit)
    batch = max(1, min(want, int(rate * BATCH_S)))
    if full.tokens + _EPSILON < batch:
        return Taken(0, (batch - full.tokens) / rate, state)
    return Taken(batch, 0.0, replace(full, tokens=max(0.0, full.tokens - batch)))


def throttled(state: PaceState, now: float, limit: float, retry_after_s: float) -> PaceState:
    """After a 429: half the rate, an empty bucket, and a pause for the Retry-After (the longest asked)."""
    state = refilled(state, now, limit)
    rate = max(MIN_RATE_SHARE * limit, effective_rate(state, limit) * DECREASE)
    return replace(state, rate=rate, tokens=0.0, paused_until=max(state.paused_until, now + retry_after_s))


def recovered(state: PaceState, limit: float, successes: int) -> PaceState:
    """After `successes` writes answered without a 429: the rate a step nearer the limit each."""
    if state.rate is None or successes <= 0:
        return state
    rate = state.rate + INCREASE_SHARE * limit * successes
    return replace(state, rate=None if rate >= limit else rate)


def claim_slots(
    state: PaceState, now: float, holder: str, want: int, most: int, lease_s: float
) -> tuple[int, PaceState]:
    """Lease up to `want` of the `most` slots to `holder` until now + lease_s (expired leases are
    dropped; a holder claiming again replaces its own lease). Returns the slots granted (0: none free)."""
    live = {h: lease for h, lease in state.leases.items() if lease[1] > now and h != holder}
    free = most - sum(slots for slots, _ in live.values())
    granted = max(0, min(want, free))
    if granted:
        live[holder] = (granted, now + lease_s)
    return granted, replace(state, leases=live)


def released(state: PaceState, holder: str) -> PaceState:
    return replace(state, leases={h: lease for h, lease in state.leases.items() if h != holder})
