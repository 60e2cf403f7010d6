"""process_shard writing several entities at once: decided and logged in row order, each entity exactly
one outcome, and a cut keeps only the contiguous prefix of finished entities."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from syncjobs.connectors.base import Claim, SourceRecord, TargetError, Written
from syncjobs.deadline import OutOfTime
from syncjobs.engine.diff import entity_hash
from syncjobs.engine.shard import compile_mapping, marked, process_shard
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import RunType
from syncjobs.models.state import EntityState

MAPPING = compile_mapping({"userName": "{{ mail }}"}, None, "users")
WAIT_S = 10.0  # a deadline for conditions, never a sleep


class ConcurrentTarget:
    """A thread-safe fake target: counts the writes in flight; per userName, a hook runs inside the write."""

    name = "fake"

    def __init__(self, hooks: dict[str, Any] | None = None) -> None:
        self.hooks = hooks or {}
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.finished: list[str] = []
        self.all_started = threading.Event()
        self.expect_started = 0
        self.started = 0

    def create(self, entity_type: str, resource: dict[str, Any], claim: Claim | None = None) -> Written:
        name = resource["userName"]
        with self.lock:
            self.in_flight += 1
            self.started += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            if self.started >= self.expect_started:
                self.all_started.set()
        try:
            if name in self.hooks:
                self.hooks[name](claim)
            return Written(f"t-{name}")
        finally:
            with self.lock:
                self.in_flight -= 1
                self.finished.append(name)

    def update(self, entity_type: str, target_id: str, resource: dict[str, Any]) -> Written:
        raise AssertionError("no update expected")


def records(n: int, first_row: int = 2) -> list[SourceRecord]:
    return [SourceRecord(first_row + i, f"e{i}", {"mail": f"u{i}@x"}) for i in range(n)]


def shard(target: ConcurrentTarget, recs: list[SourceRecord], concurrency: int = 4, should_stop=None):
    return process_shard(
        "r1",
        "users",
        RunType.READ,
        MAPPING,
        recs,
        lambda ids: {},
        target,
        should_stop=should_stop,
        stop_check_seconds=0.0,
        concurrency=concurrency,
    )


def logged_rows(result) -> list[int]:
    return [line.row for lines in result.lines.values() for line in lines]


def test_writes_run_at_once_up_to_the_concurrency_and_are_logged_in_row_order():
    # Given 4 writers, and the first 4 writes holding until all 4 have started
    target = ConcurrentTarget()
    target.expect_started = 4
    hold = {f"u{i}@x": (lambda claim: target.all_started.wait(WAIT_S)) for i in range(4)}
    target.hooks = hold

    # When a shard of 20 users is processed
    result = shard(target, records(20))

    # Then 4 (never more) were written at once, and every user has one outcome, in row order
    assert target.most_in_flight == 4
    assert [line.row for line in result.lines[Outcome.CREATED]] == list(range(2, 22))
    assert [c.entity_id for c in result.state_changes] == [f"e{i}" for i in range(20)]
    assert result.last_row == 21
    assert not result.cut


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_write_out_of_time_cuts_the_shard_before_it_and_later_finished_writes_are_not_counted(concurrency):
    # Given user 3 (row 5) runs out of time after user 4 (row 6) finished (when they run at once)
    later_done = threading.Event()

    def out_of_time(claim: Claim | None) -> None:
        if concurrency > 1:
            assert later_done.wait(WAIT_S)
        raise OutOfTime("no time left", resume_after_s=7.0)

    target = ConcurrentTarget({"u3@x": out_of_time, "u4@x": lambda claim: later_done.set()})

    # When the shard is processed
    result = shard(target, records(10), concurrency)

    # Then it is cut after row 4: rows 2-4 counted, nothing of row 5 or after (even a finished write)
    assert result.cut
    assert result.resume_after_s == 7.0
    assert result.last_row == 4
    assert result.last_id == "e2"
    assert logged_rows(result) == [2, 3, 4]
    assert [c.entity_id for c in result.state_changes] == ["e0", "e1", "e2"]
    if concurrency > 1:
        assert "u4@x" in target.finished  # written, and left for the continuation to adopt
    else:
        assert target.finished == ["u0@x", "u1@x", "u2@x", "u3@x"]  # one at a time: nothing after the cut


def test_duplicate_ids_are_still_found_when_writes_run_at_once():
    # Given the same id on rows 2 and 4
    recs = records(3)
    recs[2] = SourceRecord(4, "e0", {"mail": "other@x"})
    target = ConcurrentTarget()

    result = shard(target, recs)

    # Then the first is created once; the second fails naming the first's row
    assert [line.entity_id for line in result.lines[Outcome.CREATED]] == ["e0", "e1"]
    assert [(line.row, line.reason) for line in result.lines[Outcome.FAILED]] == [
        (4, "duplicate id: row 2 has the same id")
    ]
    assert sorted(target.finished) == ["u0@x", "u1@x"]


def eventually(condition, timeout_s: float = WAIT_S) -> bool:
    """Wait for a condition with a deadline (checked every 10 ms)."""
    pause = threading.Event()
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return True
        pause.wait(0.01)
    return condition()


def test_a_write_knows_the_target_ids_written_by_earlier_writes_of_the_shard_not_yet_counted():
    # Given row 2's write holds until row 4's has learnt who owns row 3's target id
    asked = threading.Event()
    seen: list[str | None] = []

    def held(claim: Claim | None) -> None:
        assert asked.wait(WAIT_S)

    def ask(claim: Claim | None) -> None:
        assert claim is not None
        eventually(lambda: claim.owner_of("t-u1@x") is not None)
        seen.append(claim.owner_of("t-u1@x"))
        asked.set()

    # When the shard is processed
    result = shard(ConcurrentTarget({"u0@x": held, "u2@x": ask}), records(3))

    # Then row 4 learnt that row 3's entity owns the target id, though row 2 was not yet counted
    assert seen == ["e1"]
    assert [line.row for line in result.lines[Outcome.CREATED]] == [2, 3, 4]


def test_a_stop_ends_the_shard_with_the_writes_under_way_counted():
    # Given a stop asked once the first two users are decided
    decided = []

    def should_stop() -> bool:
        decided.append(1)
        return len(decided) > 2

    target = ConcurrentTarget()
    result = shard(target, records(10), should_stop=should_stop)

    # Then the two users started are counted, in order, and nothing after them
    assert result.stopped
    assert not result.cut
    assert logged_rows(result) == [2, 3]
    assert sorted(target.finished) == ["u0@x", "u1@x"]


def test_a_target_error_in_one_write_fails_only_that_entity():
    def refuse(claim: Claim | None) -> None:
        raise TargetError("create failed: HTTP 400 invalid", status=400)

    result = shard(ConcurrentTarget({"u1@x": refuse}), records(4))

    assert [line.row for line in result.lines[Outcome.CREATED]] == [2, 4, 5]
    assert [line.reason for line in result.lines[Outcome.FAILED]] == ["create failed: HTTP 400 invalid"]
    assert result.last_row == 5
    assert not result.cut


@pytest.mark.parametrize("concurrency", [1, 4])
def test_an_unchanged_entity_after_a_write_under_way_is_accounted_after_it_and_not_before_a_cut(concurrency):
    # Given users 0-4 already written by an earlier run with what they map to now (unchanged), except
    # user 1, which is new; its write runs out of time once the unchanged users 2 and 3 were decided
    # (when writes run at once: the shard asks whether to stop before each record, so before user 4)
    recs = records(5)
    states = {
        r.entity_id: EntityState(
            r.entity_id, f"t-u{i}@x", entity_hash(marked(MAPPING.apply(r.attributes), r.entity_id)), "r0", "created"
        )
        for i, r in enumerate(recs)
        if i != 1
    }
    asked = 0
    later_decided = threading.Event()

    def should_stop() -> bool:
        nonlocal asked
        asked += 1
        if asked == 5:
            later_decided.set()
        return False

    def out_of_time(claim: Claim | None) -> None:
        if concurrency > 1:
            assert later_decided.wait(WAIT_S)
        raise OutOfTime("no time left")

    target = ConcurrentTarget({"u1@x": out_of_time})

    # When the shard is processed
    result = process_shard(
        "r1",
        "users",
        RunType.READ,
        MAPPING,
        recs,
        lambda ids: states,
        target,
        should_stop=should_stop,
        stop_check_seconds=0.0,
        concurrency=concurrency,
    )

    # Then only user 0 is counted: the unchanged users after the unfinished write are the continuation's
    assert result.cut
    assert result.last_row == 2
    assert logged_rows(result) == [2]
    assert result.seen == ["e0"]
