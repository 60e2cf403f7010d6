"""The engine alone: entities/s of process_shard on one core (8-attribute mapping, a target that
accepts everything at once), as a ratio to the csv module only parsing the same rows.

Both are timed in CPU time of this process (time.process_time), several times, turn about, and the
best of each is taken: a single wall-clock timing of a 20 ms csv parse on a shared machine moved the
ratio between 0.08 and 0.28 from one run to the next (another process taking the core, a collection
of an earlier run's garbage), while the work measured had not changed."""

from __future__ import annotations

import csv
import io
import time

from syncjobs_local.sample_data import generate
from tests.bench.workload import run_engine

REPEATS = 5


def engine_rate(n: int, repeats: int = REPEATS) -> tuple[float, float]:
    """(engine entities/s, csv-parsing rows/s) on the same `n` rows, each the best of `repeats`."""
    data = generate(n, bad=False).data.decode()
    parse_s, engine_s = [], []
    for _ in range(repeats):
        started = time.process_time()
        rows = list(csv.DictReader(io.StringIO(data)))
        parse_s.append(time.process_time() - started)
        started = time.process_time()
        result = run_engine(rows)
        engine_s.append(time.process_time() - started)
        if result.counts()["users"]["created"] != n:
            raise RuntimeError(f"the engine created {result.counts()['users']['created']} of {n}")
    return n / min(engine_s), n / min(parse_s)
