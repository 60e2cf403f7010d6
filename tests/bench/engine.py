"""The engine alone: entities/s of process_shard on one core (8-attribute mapping, a target that
accepts everything at once), as a ratio to the csv module only parsing the same rows."""

from __future__ import annotations

import csv
import io
import time

from syncjobs_local.sample_data import generate
from tests.bench.workload import run_engine


def engine_rate(n: int) -> tuple[float, float]:
    """(engine entities/s, csv-parsing rows/s) on the same `n` rows."""
    data = generate(n, bad=False).data.decode()
    started = time.perf_counter()
    rows = list(csv.DictReader(io.StringIO(data)))
    baseline = n / (time.perf_counter() - started)
    started = time.perf_counter()
    result = run_engine(rows)
    rate = n / (time.perf_counter() - started)
    if result.counts()["users"]["created"] != n:
        raise RuntimeError(f"the engine created {result.counts()['users']['created']} of {n}")
    return rate, baseline
