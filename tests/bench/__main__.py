"""`make bench`: throughput, AWS request counts and memory, each as a ratio to a baseline measured in
the same run on the same machine (these machines are noisy; absolute figures are for orientation).

1. engine: entities/s of process_shard on one core, 8-attribute mapping, in-memory target;
   baseline: the same rows only parsed by the csv module.
2. load: entities/s of a whole run through the local stack (start_run, SQS, run_shard, scim2-server);
   baseline: the target's raw create rate, POSTing the same users at the same concurrency.
3. AWS requests per service for an initial, an unchanged and a 1%-changed run.
4. peak RSS of a shard worker processing 10,000 entities, over a baseline process that imports the
   same modules and reads the same data.
"""

from __future__ import annotations

import argparse
import csv
import io
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import httpx

from syncjobs.connectors.scim_http import ScimClient
from syncjobs.store import clients
from syncjobs_local.demo import prepare, start, wait_for_run
from syncjobs_local.sample_data import COLUMNS, generate
from syncjobs_local.stack import LocalStack
from tests.bench.workload import parsed_rows, run_engine


def engine_rate(n: int) -> tuple[float, float]:
    data = generate(n, bad=False).data.decode()
    started = time.perf_counter()
    rows = list(csv.DictReader(io.StringIO(data)))
    baseline = n / (time.perf_counter() - started)
    started = time.perf_counter()
    result = run_engine(rows)
    rate = n / (time.perf_counter() - started)
    assert result.counts()["users"]["created"] == n
    return rate, baseline


def raw_create_rate(stack: LocalStack, users: list[dict[str, str]], workers: int) -> float:
    assert stack.scim is not None
    headers = {"Authorization": f"Bearer {stack.scim.token}", "Content-Type": "application/scim+json"}
    with httpx.Client(base_url=stack.scim.url, headers=headers) as http:

        def post(row: dict[str, str]) -> None:
            body = {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "raw-" + row["email"],
                "externalId": row["employee_id"],
                "name": {"givenName": row["first_name"], "familyName": row["last_name"]},
                "displayName": f"{row['first_name']} {row['last_name']}",
                "title": row["title"],
                "active": row["status"] == "active",
                "emails": [{"value": "raw-" + row["email"], "type": "work", "primary": True}],
            }
            assert http.post("/Users", json=body).status_code == 201

        started = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(post, users))
        return len(users) / (time.perf_counter() - started)


def per_service(counter: Counter[str]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for key, n in counter.items():
        out[key.split(".", 1)[0]] += n
    return dict(sorted(out.items()))


def timed_run(stack: LocalStack, job_id: str) -> tuple[float, dict[str, Any], Any]:
    """Run the job once; (seconds, {services, target_writes, state_writes}, run)."""
    time.sleep(1.0)  # let the notifier finish with the previous run's last stream records
    clients.requests.clear()
    writes: Counter[str] = Counter()
    original = ScimClient.request

    def counting(self: ScimClient, method: str, *args: Any, **kwargs: Any) -> Any:
        writes[method] += method != "GET"
        return original(self, method, *args, **kwargs)

    ScimClient.request = counting  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        run = wait_for_run(start(stack, job_id), timeout_s=1800, stack=stack)
        elapsed = time.perf_counter() - started
    finally:
        ScimClient.request = original  # type: ignore[method-assign]
    costs = {
        "services": per_service(clients.requests),
        "target_writes": sum(writes.values()),
        "state_writes": clients.requests["dynamodb.BatchWriteItem"],
    }
    return elapsed, costs, run


def change_one_percent(bucket: str, key: str, n: int) -> None:
    s3 = boto3.client("s3")
    text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", "surrogateescape")
    reader = list(csv.reader(io.StringIO(text)))
    step = 100
    for row in reader[1::step]:
        row[COLUMNS.index("title")] = "Changed"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(reader)
    s3.put_object(Bucket=bucket, Key=key, Body=out.getvalue().encode("utf-8", "surrogateescape"))


def peak_rss_mb(n: int) -> tuple[float, float]:
    def child(mode: str) -> float:
        out = subprocess.run(
            [sys.executable, "-m", "tests.bench.workload", str(n), mode],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        return int(out.stdout.strip()) / 1024

    return child("work"), child("baseline")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args(argv)
    n = args.users

    engine, csv_only = engine_rate(n)
    print(
        f"engine      {engine:10,.0f} entities/s on one core (8-attribute mapping); "
        f"csv parse alone {csv_only:,.0f}/s; ratio {engine / csv_only:.3f}"
    )

    work, base = peak_rss_mb(n)
    print(
        f"memory      shard worker peak RSS {work:.0f} MB on {n:,} entities; baseline {base:.0f} MB; "
        f"over baseline {work - base:.0f} MB"
    )

    with tempfile.TemporaryDirectory() as tmp, LocalStack(Path(tmp), start_scheduler=False) as stack:
        # The baseline fills an empty target with the same number of users, at the same concurrency
        # (scim2-server's memory store gets slower as it fills, so a smaller baseline would flatter it).
        raw = raw_create_rate(stack, parsed_rows(n), workers=stack.shard_workers)
        stack.scim.new_tenant()  # type: ignore[union-attr]
        prepared = prepare(stack, n, subscriber="bench@example.com", bad_rows=False)
        elapsed, initial, run = timed_run(stack, prepared.job_id)
        created = run.counts["users"]["created"]
        load = created / elapsed
        print(
            f"load        {load:10,.0f} entities/s ({created:,} created in {elapsed:.1f}s, "
            f"{stack.shard_workers} shard workers); target raw create rate {raw:,.0f}/s into an empty "
            f"target at the same concurrency; ratio {load / raw:.3f}"
        )
        planning = (run.started_at - run.created_at).total_seconds()
        print(
            f"            of which: request to shards queued {planning:.1f}s, shards and finalize "
            f"{(run.ended_at - run.started_at).total_seconds():.1f}s"
        )
        print(f"requests    initial run: {initial['services']}; target writes {initial['target_writes']:,}")
        _, unchanged, run2 = timed_run(stack, prepared.job_id)
        ddb = unchanged["services"].get("dynamodb", 0)
        shards = run2.shards_total or 0
        print(
            f"requests    unchanged run: {unchanged['services']}; target writes {unchanged['target_writes']}; "
            f"entity-state writes {unchanged['state_writes']} (skipped {run2.counts['users']['skipped']:,})"
        )
        print(
            f"            DynamoDB: {ddb} requests for {n:,} entities in {shards} shards = "
            f"{100 * ddb / n:.2f} per 100 entities; budget 1 per 100 + 5 per shard = {n // 100 + 5 * shards}"
        )
        change_one_percent(prepared.bucket, prepared.key, n)
        _, changed, run3 = timed_run(stack, prepared.job_id)
        print(
            f"requests    1%-changed run: {changed['services']}; target writes {changed['target_writes']}; "
            f"entity-state writes {changed['state_writes']} (updated {run3.counts['users']['updated']:,})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
