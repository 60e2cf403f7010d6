"""`make bench`: what issue 13 asks to measure, in one run on this machine, each figure as a ratio to a
baseline measured in the same run where the machine's speed matters (absolute figures are for orientation).

1. engine: entities/s of process_shard on one core, as a ratio to the csv module parsing the same rows.
2. rate-limited target: entities/s of a whole run against a peer taking N writes/s (429 + Retry-After
   beyond), as a ratio to N, and the share of the peer's answers that were 429.
3. unlimited target: entities/s of a whole run, as a ratio to the target's best raw create rate (the
   same users POSTed straight to it at several concurrencies, the best taken).
4. --users (100,000) users: initial run, unchanged rerun, 1%-changed rerun, 10%-removed rerun on the local
   stack with Timeouts enforced; each checked exact (counts = logs = target); per stage the largest
   invocation time and peak memory as shares of its Timeout and MemorySize; requests per service and
   the cost per 1M entities at list prices (prices.py), from the metered boto3 calls (metering.py).

It ends with `summary NAME VALUE` lines for scripts. `--users 5000` is a quick mode.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from syncjobs.models.outcome import Outcome
from syncjobs.store import clients as store_clients
from syncjobs_local.demo import prepare
from syncjobs_local.stack import LocalStack
from tests.bench import stages as stage_module
from tests.bench.costs import cost_usd, per_million
from tests.bench.engine import REPEATS, engine_rate
from tests.bench.metering import Meter
from tests.bench.runs import Measured, measured_run, one_percent_changed, rewrite_export, ten_percent_removed
from tests.bench.stages import MIB, Stage
from tests.bench.throughput import rate_limited, raw_create_rates, unlimited, unlimited_concurrency
from tests.bench.workload import parsed_rows

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the handlers' logs are not the bench's output

# DeleteLimits off: the 10%-removed run deletes what it should instead of holding it for approval
NO_DELETE_LIMITS = {"enabled": True, "mode": "delete", "max_count": None, "max_percent": None}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000, help="users of the four measured runs")
    parser.add_argument("--engine-users", type=int, default=20_000)
    parser.add_argument("--throughput-users", type=int, default=5_000, help="users of the unlimited-target run")
    parser.add_argument("--limit", type=float, default=50.0, help="writes/s the rate-limited target takes")
    parser.add_argument("--limited-seconds", type=float, default=60.0, help="the limited run's ideal length")
    parser.add_argument("--workers", type=int, default=10, help="shard workers (the template's MaximumConcurrency)")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="Timeouts enforced: the template's times this factor"
    )
    parser.add_argument("--run-deadline", type=float, default=7200.0, help="seconds a measured run may take")
    return parser.parse_args(argv)


def show(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    summary: dict[str, float] = {}

    engine, csv_only = engine_rate(args.engine_users)
    summary["engine_ratio"] = engine / csv_only
    show(
        f"engine      {engine:10,.0f} entities/s on one core ({args.engine_users:,} users, 8-attribute mapping); "
        f"csv parse alone {csv_only:,.0f}/s (CPU time, best of {REPEATS} each, turn about); "
        f"ratio {summary['engine_ratio']:.3f}"
    )

    meter = Meter()
    store_clients.client_hooks.append(meter.install)
    try:
        with tempfile.TemporaryDirectory() as tmp, LocalStack(Path(tmp), start_scheduler=False) as stack:
            throughput(stack, args, summary)
            measured_runs(stack, args, meter, summary)
    finally:
        store_clients.client_hooks.remove(meter.install)
        store_clients.reset()

    for name in (
        "engine_ratio",
        "rate_limited_ratio",
        "rate_limited_429_share",
        "unlimited_ratio",
        "cost_unchanged_per_1m_usd",
        "cost_initial_per_1m_usd",
        "max_invocation_time_share",
        "max_memory_share",
    ):
        show(f"summary {name} {summary[name]:.4f}")
    return 0


def throughput(stack: LocalStack, args: argparse.Namespace, summary: dict[str, float]) -> None:
    n = args.throughput_users
    rates = raw_create_rates(stack, parsed_rows(n))
    best = max(rates, key=lambda c: rates[c])
    shown = ", ".join(f"{c}: {r:,.0f}/s" for c, r in rates.items())
    show(f"target      raw create rate of {n:,} users into an empty target, per concurrency: {shown}; best {best}")

    stack.reset(shard_workers=args.workers)
    concurrency = unlimited_concurrency(args.workers)
    run = unlimited(stack, n, deadline_s=max(600.0, 20 * n / rates[best]), max_concurrency=concurrency)
    summary["unlimited_ratio"] = run.rate / rates[best]
    show(
        f"unlimited   {run.rate:10,.0f} entities/s ({run.entities:,} created in {run.seconds:.1f}s to the run's "
        f"ended_at, seen final after {run.observed_seconds:.1f}s; run {run.status}, {args.workers} shard workers, "
        f"target.max_concurrency {concurrency}); ratio to the best raw rate "
        f"{summary['unlimited_ratio']:.3f}"
    )

    stack.reset(shard_workers=args.workers)
    users = int(args.limit * args.limited_seconds)
    limited = rate_limited(stack, users, args.limit, deadline_s=max(300.0, 10 * args.limited_seconds))
    summary["rate_limited_ratio"] = limited.rate / args.limit
    summary["rate_limited_429_share"] = limited.throttled / limited.calls if limited.calls else 0.0
    show(
        f"limited     {limited.rate:10,.1f} entities/s against a target taking {args.limit:g} writes/s "
        f"({limited.entities:,} of {users:,} created in {limited.seconds:.1f}s, run {limited.status}); "
        f"ratio {summary['rate_limited_ratio']:.3f}; 429 answers {limited.throttled:,} of {limited.calls:,} calls "
        f"({summary['rate_limited_429_share']:.3f})"
    )


def measured_runs(stack: LocalStack, args: argparse.Namespace, meter: Meter, summary: dict[str, float]) -> None:
    n = args.users
    stack.reset(shard_workers=args.workers)
    assert stack.resources is not None
    specs = stack.resources.functions
    timeouts = {f: spec.timeout_s * args.time_scale for f, spec in specs.items()}
    stack.enforce_timeouts(timeouts)
    stack.invocations.measure_memory = stage_module.Sample()
    prepared = prepare(stack, n, subscriber="bench@example.com", bad_rows=False, deletes=NO_DELETE_LIMITS)
    show(
        f"runs        {n:,} users, shard size {prepared.document['shard_size']}; Timeouts enforced at "
        f"{args.time_scale:g}x the template's; memory measured on a sample of invocations (stages.py)"
    )
    changed = (n + 99) // 100
    removed = (n + 9) // 10
    plan = [
        ("initial", {Outcome.CREATED: n}, n, None),
        ("unchanged", {Outcome.SKIPPED: n}, n, None),
        ("1%-changed", {Outcome.UPDATED: changed, Outcome.SKIPPED: n - changed}, n, one_percent_changed),
        ("10%-removed", {Outcome.DELETED: removed, Outcome.SKIPPED: n - removed}, n - removed, ten_percent_removed),
    ]
    measured: list[Measured] = []
    for name, expected, in_target, change in plan:
        if change is not None:
            rewrite_export(prepared.bucket, prepared.key, change)
        m = measured_run(stack, meter, name, prepared.job_id, expected, in_target, args.run_deadline)
        measured.append(m)
        costs = cost_usd(m.usage)
        total = sum(costs.values())
        totals = {o.value: c for o, c in m.run.totals().items() if c}
        show(
            f"run         {name:11} {m.run.status.value} in {m.seconds:7.1f}s; counts {totals}; logs "
            f"{ {o.value: c for o, c in m.logs.items() if c} }; target {m.target_users:,}; "
            f"{'exact' if m.exact else 'NOT EXACT'}"
        )
        show(f"            requests per service {m.requests}")
        u = m.usage
        show(
            f"            billed: DynamoDB {u.dynamodb_rru:,.1f} RRU {u.dynamodb_wru:,.0f} WRU + "
            f"{u.dynamodb_index_wru:,.0f} index WRU; Lambda {u.lambda_requests:,} requests "
            f"{u.lambda_gb_seconds:,.2f} GB-s estimated (duration.py: CPU {u.lambda_cpu_s:,.1f}s + AWS requests "
            f"{u.lambda_aws_s:,.1f}s + target waits {u.lambda_target_s:,.1f}s; {u.lambda_wall_gb_seconds:,.1f} GB-s "
            f"at local wall time); S3 {u.s3_put_class:,} PUT-class "
            f"{u.s3_get_class:,} GET-class; SQS {u.sqs_requests:,} requests (of which mappings' polling estimated); "
            f"SES {u.ses_mails} mails; Secrets Manager {u.secrets_manager_calls} calls"
        )
        show(
            f"            cost ${total:.4f}, per 1M entities ${per_million(total, n):.4f} "
            f"({', '.join(f'{k} ${per_million(v, n):.4f}' for k, v in costs.items() if v)})"
        )
        old = cost_usd(replace(u, dynamodb_index_wru=0.0, lambda_gb_seconds=u.lambda_wall_gb_seconds))
        parts = ", ".join(f"{k} ${per_million(v, n):.4f}" for k, v in old.items() if v)
        show(
            f"            at local wall time and without index writes (the former figures): per 1M entities "
            f"${per_million(sum(old.values()), n):.4f} ({parts})"
        )
        if name == "initial":
            summary["cost_initial_per_1m_usd"] = per_million(total, n)
        elif name == "unchanged":
            summary["cost_unchanged_per_1m_usd"] = per_million(total, n)
    stack.invocations.measure_memory = None

    done = list(stack.invocations.done)
    baselines = {f: stage_module.baseline_rss(specs[f]) for f in {i.function for i in done}}
    found = stage_module.stages(done, specs, timeouts, baselines)
    show_stages(found)
    summary["max_invocation_time_share"] = max(s.time_share for s in found)
    summary["max_memory_share"] = max(s.memory_share or 0.0 for s in found)
    if not all(m.exact for m in measured):
        show("runs        NOT EXACT: " + ", ".join(m.name for m in measured if not m.exact))


def show_stages(found: list[Stage]) -> None:
    traced = " (every invocation traced: an upper bound)"
    show(
        "stages      per function over the four runs: largest invocation time (of those not traced) / "
        "Timeout; peak memory = resident baseline (VmHWM of a child process importing the handler) + the "
        "largest Python heap peak of a measured invocation (tracemalloc, run alone; includes the in-process "
        "moto server's allocations for its requests: an upper bound) / MemorySize; measured: run_shard "
        "one invocation in 20, the others one in 2"
    )
    for s in found:
        memory = (
            f"{(s.baseline_bytes or 0) / MIB:.0f} + {(s.max_peak_bytes or 0) / MIB:.1f} MB of {s.memory_mb} MB "
            f"= {s.memory_share:.3f} ({s.measured} measured)"
            if s.memory_share is not None
            else "not measured"
        )
        show(
            f"  {s.function:24} {s.invocations:6,} invocations, {s.timed_out} timed out; time {s.max_seconds:7.2f}s "
            f"of {s.timeout_s:g}s = {s.time_share:.3f}{traced if s.time_traced else ''}; memory {memory}"
        )


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"bench took {time.monotonic() - started:.0f}s", flush=True)
    sys.exit(code)
