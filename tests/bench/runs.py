"""The 100,000-user runs of the bench on the local stack: initial, unchanged, 1% changed, 10% removed;
each checked exact (the run's counts = its logs = what the target holds) and metered."""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx

from syncjobs.admin import operations
from syncjobs.models.outcome import OUTCOMES, Outcome
from syncjobs.models.run import Run
from syncjobs.settings import get_settings
from syncjobs_local.demo import start
from syncjobs_local.sample_data import COLUMNS
from syncjobs_local.stack import LocalStack
from tests.bench import tracing
from tests.bench.costs import Usage
from tests.bench.metering import Meter
from tests.bench.stages import lambda_usage
from tests.e2e.helpers import holds_within


def wait_final(stack: LocalStack, run_id: str, deadline_s: float) -> Run:
    """The run once final, or as it is at the deadline. A failed or timed-out invocation does not end
    the wait: on Lambda it is retried (SQS redelivers, streams retry), and the run's outcome says the rest;
    the failures are in stack.poller_errors() and the invocation log."""
    holds_within(lambda: operations.get_run(run_id).status.is_final, deadline_s, every_s=0.5)
    return operations.get_run(run_id)


def wait_quiet(stack: LocalStack, quiet_s: float = 3.0, deadline_s: float = 120.0) -> None:
    """Until no invocation has ended for `quiet_s` (the run's stream consumers, its mail, are done)."""
    last = {"ended": len(stack.invocations.done), "since": time.monotonic()}

    def quiet() -> bool:
        ended = len(stack.invocations.done)
        if ended != last["ended"]:
            last.update(ended=ended, since=time.monotonic())
        return time.monotonic() - last["since"] >= quiet_s

    holds_within(quiet, deadline_s, every_s=0.5)


@dataclass
class Measured:
    name: str
    run: Run
    seconds: float
    expected: dict[Outcome, int]
    logs: dict[Outcome, int]
    target_users: int
    expected_target: int
    usage: Usage
    requests: dict[str, int] = field(default_factory=dict)  # per service, as clients.requests counts them

    @property
    def exact(self) -> bool:
        totals = self.run.totals()
        return (
            self.run.status.value == "succeeded"
            and all(totals[o] == self.expected.get(o, 0) for o in OUTCOMES)
            and all(self.logs.get(o, 0) == totals[o] for o in OUTCOMES)
            and self.target_users == self.expected_target
        )


def log_lines(run: Run) -> dict[Outcome, int]:
    """Entities per outcome log (its lines, less a csv header)."""
    s3: Any = boto3.client("s3")
    found = {}
    for outcome, key in run.log_keys.items():
        body = s3.get_object(Bucket=get_settings().log_bucket, Key=key)["Body"].read().decode("utf-8")
        lines = [line for line in body.splitlines() if line.strip()]
        found[Outcome(outcome)] = max(0, len(lines) - (1 if key.endswith(".csv") else 0))
    return found


def target_users(stack: LocalStack) -> int:
    assert stack.scim is not None
    headers = {"Authorization": f"Bearer {stack.scim.token}"}
    answer = httpx.get(f"{stack.scim.url}/Users", params={"count": "0"}, headers=headers, timeout=60)
    answer.raise_for_status()
    return int(answer.json()["totalResults"])


def rewrite_export(bucket: str, key: str, change: Any) -> int:
    """Rewrite the export's data rows with `change(rows) -> rows`; the rows now in it."""
    s3: Any = boto3.client("s3")
    text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", "surrogateescape")
    header, *rows = list(csv.reader(io.StringIO(text)))
    rows = change(rows)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    s3.put_object(Bucket=bucket, Key=key, Body=out.getvalue().encode("utf-8", "surrogateescape"))
    return len(rows)


def one_percent_changed(rows: list[list[str]]) -> list[list[str]]:
    title = COLUMNS.index("title")
    for row in rows[::100]:
        row[title] = "Changed " + row[title]
    return rows


def ten_percent_removed(rows: list[list[str]]) -> list[list[str]]:
    return [row for i, row in enumerate(rows) if i % 10]


def per_service(counter: Counter[str]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for key, n in counter.items():
        out[key.split(".", 1)[0]] += n
    return dict(sorted(out.items()))


def measured_run(
    stack: LocalStack,
    meter: Meter,
    name: str,
    job_id: str,
    expected: dict[Outcome, int],
    expected_target: int,
    deadline_s: float,
) -> Measured:
    """One run, metered from its start to the end of its last invocation; each invocation traced for its
    duration estimate (tracing.py: installed from the first measured run on)."""
    assert stack.resources is not None
    tracing.install()
    stack.invocations.observe = tracing.observe
    wait_quiet(stack)
    requests_before = meter.requests_snapshot()
    before, sent_before = meter.snapshot(), meter.sqs_messages_sent
    first = len(stack.invocations.done)
    started = time.perf_counter()
    run = wait_final(stack, start(stack, job_id), deadline_s)
    elapsed = time.perf_counter() - started
    wait_quiet(stack)
    usage = meter.snapshot() - before
    usage.sqs_requests += 2 * (meter.sqs_messages_sent - sent_before)  # the mappings' receive + delete
    usage = usage + lambda_usage(stack.invocations.done[first:], stack.resources.functions)
    return Measured(
        name=name,
        run=run,
        seconds=elapsed,
        expected=expected,
        logs=log_lines(run),
        target_users=target_users(stack),
        expected_target=expected_target,
        usage=usage,
        requests=per_service(meter.requests_snapshot() - requests_before),
    )
