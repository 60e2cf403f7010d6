"""The billed duration a deployed function would have for an invocation measured on the local stack: pure
arithmetic over what the invocation did (its own CPU time, its AWS requests, its waits for the target).

Local wall time is no estimate of it: moto serves every AWS request in this process, on the cores the
handlers use, and takes far longer per request than AWS does. So the estimate is the sum of
  - the invocation's own CPU time (every thread of it, none of moto's; the bench's metering and the local
    IAM check taken out), divided by the share of a vCPU the function's memory buys (Lambda allocates
    CPU in proportion to memory, one full vCPU at 1,769 MB: https://docs.aws.amazon.com/lambda/latest/dg/
    configuration-memory.html). This machine's core and a Graviton core are taken as equally fast;
  - each AWS request at a typical in-region latency (latencies.py), shared with the requests in flight
    beside it: a request's latency is weighted by the share of its local interval it had to itself
    (`alone_shares`), so eight GETs of a reader pool in flight together count as one GET, and requests
    one after the other count in full;
  - the wall time spent waiting for the target's answers, measured (real HTTP to the local SCIM server),
    with waits that overlap (concurrent writers) counted once: the union of their intervals.
The three are added, not overlapped (CPU in a writer thread while another waits is counted twice): the
estimate errs towards a larger bill. An invocation that timed out locally is billed at most its Timeout.

Not in it: time a handler sleeps (backoff after throttling, the pace a rate-limited target sets; the
sleeps are injected as defaults, out of reach of a wrapper), none in the bench's four runs against the
unlimited target, but billed on Lambda; and the target's own speed is the local scim2-server's, which
shares this machine's two cores (a real target answers at its own pace).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tests.bench import latencies

ONE_VCPU_MB = 1769  # Lambda: the memory at which a function has the equivalent of one vCPU


def union_seconds(intervals: Iterable[tuple[float, float]]) -> float:
    """Total length of the union of [start, end) intervals: overlapping waits counted once."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if start >= reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def alone_shares(intervals: Sequence[tuple[float, float]]) -> list[float]:
    """Per interval, the share of it each moment is worth when k intervals are open then: the integral of
    1/k over it, divided by its length (1.0 alone, 0.5 beside one other all along; 1.0 if empty)."""
    shares = [0.0] * len(intervals)
    events = sorted({t for interval in intervals for t in interval})
    for start, end in itertools.pairwise(events):
        open_now = [i for i, (s, e) in enumerate(intervals) if s <= start and e >= end]
        for i in open_now:
            shares[i] += (end - start) / len(open_now)
    return [share / (e - s) if e > s else 1.0 for share, (s, e) in zip(shares, intervals, strict=True)]


def cpu_share(memory_mb: int) -> float:
    """The share of a vCPU a function of `memory_mb` gets (at most one: the handlers here use one core)."""
    if memory_mb <= 0:
        raise ValueError("memory_mb must be positive")
    return min(1.0, memory_mb / ONE_VCPU_MB)


@dataclass(frozen=True)
class Estimate:
    cpu_s: float  # the CPU part, already divided by the function's vCPU share
    aws_s: float
    target_s: float
    capped: bool = False  # the sum was over the Timeout

    @property
    def seconds(self) -> float:
        return self.cpu_s + self.aws_s + self.target_s


def estimate(
    cpu_s: float,
    requests: Sequence[tuple[str, float, float]],
    target_waits: Iterable[tuple[float, float]],
    memory_mb: int,
    timeout_s: float | None = None,
) -> Estimate:
    """The estimated billed duration of one invocation (see the module's docstring). `requests`: each
    AWS request as ("service.Operation", local start, local end)."""
    if cpu_s < 0:
        raise ValueError("cpu_s must not be negative")
    cpu = cpu_s / cpu_share(memory_mb)
    shares = alone_shares([(start, end) for _, start, end in requests])
    aws = sum(latencies.latency_s(op) * share for (op, _, _), share in zip(requests, shares, strict=True))
    target = union_seconds(target_waits)
    total = cpu + aws + target
    if timeout_s is not None and total > timeout_s:
        scale = timeout_s / total
        return Estimate(cpu * scale, aws * scale, target * scale, capped=True)
    return Estimate(cpu, aws, target)
