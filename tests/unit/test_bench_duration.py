"""The estimate of a deployed function's billed duration (tests/bench/duration.py): its CPU time at its
memory's vCPU share, its AWS requests at typical latencies, its target waits counted once when they overlap."""

from __future__ import annotations

import pytest

from tests.bench import latencies
from tests.bench.duration import ONE_VCPU_MB, alone_shares, cpu_share, estimate, union_seconds


@pytest.mark.parametrize(
    ("intervals", "total"),
    [
        ([], 0.0),
        ([(0.0, 1.0)], 1.0),
        ([(0.0, 1.0), (2.0, 3.0)], 2.0),  # apart: both
        ([(0.0, 2.0), (1.0, 3.0)], 3.0),  # overlapping: once
        ([(1.0, 3.0), (0.0, 2.0)], 3.0),  # in any order
        ([(0.0, 4.0), (1.0, 2.0)], 4.0),  # one inside the other
        ([(0.0, 1.0), (1.0, 2.0)], 2.0),  # touching
        ([(0.0, 1.0), (0.0, 1.0), (0.0, 1.0)], 1.0),  # ten writers waiting at once: one wait
        ([(2.0, 1.0)], 0.0),  # an empty interval
    ],
)
def test_concurrent_waits_are_counted_once(intervals: list[tuple[float, float]], total: float) -> None:
    assert union_seconds(intervals) == pytest.approx(total)


@pytest.mark.parametrize(
    ("intervals", "shares"),
    [
        ([], []),
        ([(0.0, 1.0)], [1.0]),
        ([(0.0, 1.0), (1.0, 2.0)], [1.0, 1.0]),  # one after the other: each in full
        ([(0.0, 1.0), (0.0, 1.0)], [0.5, 0.5]),  # side by side all along: half each
        ([(0.0, 1.0)] * 8, [0.125] * 8),  # a reader pool's eight GETs in flight together: one GET
        ([(0.0, 2.0), (1.0, 2.0)], [0.75, 0.5]),  # alone for its first half, shared for its second
        ([(1.0, 1.0)], [1.0]),  # no length (answered before it was sent): in full
    ],
)
def test_a_request_s_latency_is_shared_with_the_requests_in_flight_beside_it(
    intervals: list[tuple[float, float]], shares: list[float]
) -> None:
    assert alone_shares(intervals) == pytest.approx(shares)


@pytest.mark.parametrize(("memory_mb", "share"), [(ONE_VCPU_MB, 1.0), (3538, 1.0), (512, 512 / ONE_VCPU_MB)])
def test_a_function_gets_a_vcpu_share_in_proportion_to_its_memory_up_to_one(memory_mb: int, share: float) -> None:
    assert cpu_share(memory_mb) == pytest.approx(share)


def test_no_memory_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="memory_mb"):
        cpu_share(0)


def test_the_duration_is_cpu_at_the_vcpu_share_plus_request_latencies_plus_target_waits() -> None:
    # Given 5 ms of CPU at 512 MB, two GetItems and one S3 GET one after the other, two overlapping target waits
    requests = [("dynamodb.GetItem", 0.0, 1.0), ("dynamodb.GetItem", 1.0, 2.0), ("s3.GetObject", 2.0, 3.0)]
    got = estimate(0.005, requests, [(0.0, 0.2), (0.1, 0.3)], 512)
    # Then each part is as the model says, and the duration is their sum
    assert got.cpu_s == pytest.approx(0.005 * ONE_VCPU_MB / 512)
    assert got.aws_s == pytest.approx(2 * latencies.latency_s("dynamodb.GetItem") + latencies.latency_s("s3.GetObject"))
    assert got.target_s == pytest.approx(0.3)
    assert got.seconds == pytest.approx(got.cpu_s + got.aws_s + got.target_s)
    assert not got.capped


def test_requests_in_flight_together_count_once() -> None:
    # Given eight S3 GETs of a reader pool, in flight together
    got = estimate(0.0, [("s3.GetObject", 0.0, 1.0)] * 8, [], 1769)
    # Then they cost one GET's latency, not eight
    assert got.aws_s == pytest.approx(latencies.latency_s("s3.GetObject"))


def test_the_duration_is_at_most_the_timeout() -> None:
    got = estimate(10.0, [], [(0.0, 50.0)], 1769, timeout_s=30.0)
    assert got.seconds == pytest.approx(30.0)
    assert got.capped


def test_negative_cpu_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="cpu_s"):
        estimate(-1.0, [], [], 512)


@pytest.mark.parametrize(
    ("operation", "seconds"),
    [
        ("dynamodb.GetItem", latencies.PER_SERVICE_S["dynamodb"]),
        ("dynamodb.BatchWriteItem", latencies.PER_OPERATION_S["dynamodb.BatchWriteItem"]),
        ("s3.PutObject", latencies.PER_SERVICE_S["s3"]),
        ("kinesis.PutRecord", latencies.DEFAULT_S),
    ],
)
def test_a_request_s_latency_is_its_operation_s_else_its_service_s_else_the_default(
    operation: str, seconds: float
) -> None:
    assert latencies.latency_s(operation) == seconds
