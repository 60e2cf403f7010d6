"""The garbage collector while shards run: collections spaced out (engine speed), the process's thresholds
back when the last shard ends, and garbage in cycles still collected within a bound (memory)."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncjobs.connectors.base import Claim, SourceRecord, Written
from syncjobs.engine import shard
from syncjobs.engine.shard import compile_mapping, process_shard
from syncjobs.models.run import RunType

ROOT = Path(__file__).resolve().parents[2]
MAPPING = compile_mapping({"userName": "{{ mail }}"}, None, "users")


class HookTarget:
    """Accepts everything; runs `hook` inside each create."""

    name = "fake"

    def __init__(self, hook: Any = None) -> None:
        self.hook = hook

    def create(self, entity_type: str, resource: dict[str, Any], claim: Claim | None = None) -> Written:
        if self.hook is not None:
            self.hook()
        return Written("t-" + resource["userName"])

    def update(self, entity_type: str, target_id: str, resource: dict[str, Any]) -> Written:
        raise AssertionError("no update expected")


def records(n: int) -> list[SourceRecord]:
    return [SourceRecord(2 + i, f"e{i}", {"mail": f"u{i}@x"}) for i in range(n)]


def run(target: HookTarget, n: int = 3) -> shard.ShardResult:
    return process_shard("r1", "users", RunType.READ, MAPPING, records(n), lambda ids: {}, target)


@pytest.fixture(autouse=True)
def default_thresholds() -> Iterator[tuple[int, int, int]]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*saved)


def test_given_default_thresholds_when_a_shard_runs_then_collections_are_spaced_and_the_thresholds_come_back():
    # Given the collector's thresholds, When a shard runs
    during: list[tuple[int, int, int]] = []
    run(HookTarget(lambda: during.append(gc.get_threshold())))
    # Then inside it the first threshold is raised, the others kept; after it, all are as they were
    assert during == [(shard.SHARD_GC_THRESHOLD, 10, 10)] * 3
    assert gc.get_threshold() == (700, 10, 10)


def test_given_a_target_that_raises_when_the_shard_ends_with_it_then_the_thresholds_come_back():
    def boom() -> None:
        raise RuntimeError("not a target error")

    with pytest.raises(RuntimeError):
        run(HookTarget(boom))
    assert gc.get_threshold() == (700, 10, 10)


def test_given_two_shards_at_once_when_one_ends_then_the_other_still_runs_spaced_and_the_last_restores():
    # Given shard A, which runs shard B to its end inside one of its writes
    seen_after_b: list[tuple[int, int, int]] = []

    def run_b_then_look() -> None:
        if seen_after_b:
            return
        b = threading.Thread(target=run, args=(HookTarget(),))
        b.start()
        b.join(timeout=10)
        seen_after_b.append(gc.get_threshold())

    # When A ends
    run(HookTarget(run_b_then_look))
    # Then B's end did not restore the thresholds under A; A's end did
    assert seen_after_b == [(shard.SHARD_GC_THRESHOLD, 10, 10)]
    assert gc.get_threshold() == (700, 10, 10)


def test_given_the_collector_switched_off_when_a_shard_runs_then_it_stays_off():
    gc.set_threshold(0, 10, 10)
    during: list[tuple[int, int, int]] = []
    run(HookTarget(lambda: during.append(gc.get_threshold())))
    assert during == [(0, 10, 10)] * 3
    assert gc.get_threshold() == (0, 10, 10)


def test_given_garbage_in_cycles_made_per_entity_when_a_shard_runs_then_at_most_a_threshold_of_it_waits(
    monkeypatch,
):
    # Given a target that leaves a reference cycle behind at every write (a list holding itself), and a
    # threshold small enough for the test to see several collections
    monkeypatch.setattr(shard, "SHARD_GC_THRESHOLD", 1_000)
    made = collected = 0
    most_alive = 0

    def gone() -> None:
        nonlocal collected
        collected += 1

    def leave_a_cycle() -> None:
        nonlocal made, most_alive
        cycle: list[Any] = []
        cycle.append(cycle)
        weakref.finalize(_Holder(cycle), gone)
        made += 1
        most_alive = max(most_alive, made - collected)

    # When 5,000 entities run
    run(HookTarget(leave_a_cycle), n=5_000)
    # Then the cycles were collected during the shard, never more than a threshold's worth waiting
    assert made == 5_000
    assert collected > 3_000
    assert most_alive <= 1_000


class _Holder:
    """A weak-referenceable object kept alive only by the cycle it joins."""

    def __init__(self, cycle: list[Any]) -> None:
        cycle.append(self)
        self.cycle = cycle


def test_the_run_shard_handler_freezes_its_import_time_heap_and_later_garbage_is_still_collected():
    # Given a fresh interpreter that imports the run_shard handler
    script = """
import gc, weakref
import run_shard_handler
frozen = gc.get_freeze_count()
class Node: pass
node = Node(); node.me = node
alive = weakref.ref(node)
del node
gc.collect()
print(frozen, alive() is None)
"""
    paths = [str(ROOT / p) for p in ("functions/run_shard", "layers/core", "infra/local", "cli")]
    env = {"PYTHONPATH": ":".join(paths), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    # Then what the imports made is frozen (tens of thousands of objects), and a cycle made after is collected
    assert int(out[0]) > 10_000
    assert out[1] == "True"
