"""Per stage (Lambda function): the largest invocation time and peak memory, as shares of the
function's Timeout and MemorySize, and the Lambda part of the bill, from the local stack's invocation
log (syncjobs_local/invocations.py).

Memory, as Lambda counts it (the sandbox's peak RSS), is measured in two parts: the function's
resident baseline, the peak RSS (VmHWM) of a child process that imports the function's handler module
and nothing else; plus the peak of the Python heap allocations made during the invocation (tracemalloc started at its
start, the invocation running alone). The in-process moto server's allocations for the invocation's
requests are in the second part, so the figure is an upper bound. tracemalloc slows an invocation down
several times, so memory is measured on a sample (`Sample`) and times are taken from the others.

The Lambda bill (`lambda_usage`) is the estimate of duration.py, from each invocation's trace
(tracing.py); the local wall time is kept beside it for comparison. A traced invocation's CPU time is
inflated by tracemalloc as its wall time is: it is taken as the mean CPU time of the same function's
untraced invocations when there are any (its own otherwise, an upper bound).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from syncjobs_local.invocations import Invocation
from syncjobs_local.provision import FunctionSpec
from tests.bench import duration
from tests.bench.costs import Usage, lambda_gb_seconds
from tests.bench.tracing import Trace

MIB = 1024 * 1024

_BASELINE = """
import importlib, sys
sys.path.insert(0, sys.argv[1])
importlib.import_module(sys.argv[2])
for line in open("/proc/self/status", encoding="ascii"):
    if line.startswith("VmHWM:"):
        print(int(line.split()[1]) * 1024)
"""


@dataclass
class Sample:
    """Which invocations get their memory measured: one in `every` of the many alike (run_shard: one per
    shard, the same work each) and one in `every_other` of the others, the first included; the rest
    give the times (tracemalloc slows a traced invocation down)."""

    many: frozenset[str] = frozenset({"RunShardFunction"})
    every: int = 20
    every_other: int = 2
    _seen: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, function: str) -> bool:
        with self._lock:
            n = self._seen[function]
            self._seen[function] += 1
        return n % (self.every if function in self.many else self.every_other) == 0


@dataclass(frozen=True)
class Stage:
    function: str
    invocations: int
    timed_out: int
    max_seconds: float  # of the invocations not traced (tracemalloc slows them), if any
    timeout_s: float
    baseline_bytes: int | None
    max_peak_bytes: int | None
    memory_mb: int
    measured: int = 0  # invocations whose memory was measured
    time_traced: bool = False  # every invocation was traced: its time is inflated (an upper bound)

    @property
    def time_share(self) -> float:
        return self.max_seconds / self.timeout_s

    @property
    def memory_share(self) -> float | None:
        if self.baseline_bytes is None or self.max_peak_bytes is None:
            return None
        return (self.baseline_bytes + self.max_peak_bytes) / (self.memory_mb * MIB)


def baseline_rss(spec: FunctionSpec) -> int:
    """Peak RSS of a fresh interpreter that imports the function's handler module (its cold start)."""
    out = subprocess.run(
        [sys.executable, "-c", _BASELINE, str(spec.code_dir), spec.module],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ),
    )
    return int(out.stdout.strip().splitlines()[-1])


def stages(
    done: Iterable[Invocation], specs: dict[str, FunctionSpec], timeouts: dict[str, float], baselines: dict[str, int]
) -> list[Stage]:
    by_function: dict[str, list[Invocation]] = {}
    for invocation in done:
        by_function.setdefault(invocation.function, []).append(invocation)
    found = []
    for function, seen in sorted(by_function.items()):
        peaks = [i.peak_bytes for i in seen if i.peak_bytes is not None]
        untraced = [i for i in seen if i.peak_bytes is None] or seen
        found.append(
            Stage(
                function=function,
                invocations=len(seen),
                timed_out=sum(i.timed_out for i in seen),
                max_seconds=max(i.seconds for i in untraced),
                timeout_s=timeouts.get(function, specs[function].timeout_s),
                baseline_bytes=baselines.get(function),
                max_peak_bytes=max(peaks) if peaks else None,
                memory_mb=specs[function].memory_mb,
                measured=len(peaks),
                time_traced=len(peaks) == len(seen),
            )
        )
    return found


def lambda_usage(done: Iterable[Invocation], specs: dict[str, FunctionSpec]) -> Usage:
    """Requests, estimated GB-seconds (duration.py) and local wall GB-seconds of the invocations. An
    invocation without a trace (the stack's `observe` unset) is billed its local wall time."""
    done = list(done)
    untraced_cpu: dict[str, list[float]] = {}
    for invocation in done:
        if invocation.peak_bytes is None and isinstance(invocation.observed, Trace):
            untraced_cpu.setdefault(invocation.function, []).append(invocation.observed.cpu_s)
    usage = Usage()
    for invocation in done:
        spec = specs[invocation.function]
        usage.lambda_requests += 1
        usage.lambda_wall_gb_seconds += lambda_gb_seconds(invocation.seconds, spec.memory_mb)
        trace = invocation.observed
        if not isinstance(trace, Trace):
            usage.lambda_gb_seconds += lambda_gb_seconds(invocation.seconds, spec.memory_mb)
            continue
        peers = untraced_cpu.get(invocation.function)
        cpu = trace.cpu_s if invocation.peak_bytes is None or not peers else sum(peers) / len(peers)
        estimate = duration.estimate(cpu, trace.requests, trace.waits, spec.memory_mb, spec.timeout_s)
        usage.lambda_gb_seconds += lambda_gb_seconds(estimate.seconds, spec.memory_mb)
        usage.lambda_cpu_s += estimate.cpu_s
        usage.lambda_aws_s += estimate.aws_s
        usage.lambda_target_s += estimate.target_s
    return usage
