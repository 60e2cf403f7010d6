"""The Lambda part of a run's bill (tests/bench/stages.py lambda_usage): each invocation's estimated
duration (duration.py) from its trace, its local wall time kept beside it, and a memory-traced invocation's
inflated CPU replaced by its untraced peers' mean."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncjobs_local.invocations import Invocation
from syncjobs_local.provision import FunctionSpec
from tests.bench import latencies
from tests.bench.costs import lambda_gb_seconds
from tests.bench.stages import lambda_usage
from tests.bench.tracing import Trace

SPECS = {"F": FunctionSpec("F", Path("."), "m", "h", {}, {}, timeout_s=60, memory_mb=1769)}


def trace(cpu_s: float, requests: dict[str, int] | None = None) -> Trace:
    made = Trace("F")
    made.add_cpu(cpu_s)
    at = 0.0
    for operation, n in (requests or {}).items():
        for _ in range(n):
            made.add_request(operation, at, at + 1.0)  # one after the other
            at += 1.0
    return made


def test_an_invocation_is_billed_its_estimate_and_its_wall_time_is_kept_for_comparison() -> None:
    # Given an invocation of 7 s local wall time whose CPU was 5 ms and which made one BatchWriteItem
    done = [Invocation("F", "r1", 7.0, False, None, trace(0.005, {"dynamodb.BatchWriteItem": 1}))]
    # When it is billed
    usage = lambda_usage(done, SPECS)
    # Then the GB-seconds are of 5 ms + the request's latency, and the wall time's are kept beside them
    expected_s = 0.005 + latencies.latency_s("dynamodb.BatchWriteItem")
    assert usage.lambda_gb_seconds == pytest.approx(lambda_gb_seconds(expected_s, 1769))
    assert usage.lambda_wall_gb_seconds == pytest.approx(lambda_gb_seconds(7.0, 1769))
    assert usage.lambda_requests == 1
    assert usage.lambda_cpu_s == pytest.approx(0.005)


def test_a_memory_traced_invocation_takes_the_mean_cpu_of_its_untraced_peers() -> None:
    # Given two untraced invocations of 10 and 20 ms CPU and a traced one whose CPU tracemalloc inflated
    done = [
        Invocation("F", "r1", 1.0, False, None, trace(0.010)),
        Invocation("F", "r2", 1.0, False, None, trace(0.020)),
        Invocation("F", "r3", 5.0, False, 1024, trace(0.500)),
    ]
    # Then the traced one counts 15 ms
    assert lambda_usage(done, SPECS).lambda_cpu_s == pytest.approx(0.010 + 0.020 + 0.015)


def test_an_invocation_without_a_trace_is_billed_its_wall_time() -> None:
    usage = lambda_usage([Invocation("F", "r1", 2.0, False)], SPECS)
    assert usage.lambda_gb_seconds == pytest.approx(lambda_gb_seconds(2.0, 1769))
