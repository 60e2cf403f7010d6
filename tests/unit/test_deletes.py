"""Delete rules: only with proof an entity is gone; a threshold (on by default) holds every delete back."""

import pytest
from pydantic import ValidationError

from syncjobs.engine.deletes import (
    ALREADY_GONE,
    BACK_IN_SOURCE,
    RECREATED,
    disables,
    newer_run_blocks_allow,
    partial_read,
    plan_deletes,
    still_to_delete,
    why_no_deletes,
)
from syncjobs.models.job import DeleteMode, DeletePolicy
from syncjobs.models.run import ReadMode, RunType

PROVISIONED = {f"e{i}": f"t{i}" for i in range(10)}
SEEN = {f"e{i}" for i in range(2, 10)}  # e0, e1 left the source


@pytest.mark.parametrize(
    ("run_type", "mode", "policy", "stopped", "why"),
    [
        (RunType.READ, ReadMode.FULL, DeletePolicy(), False, None),
        (RunType.RESYNC, ReadMode.FULL, DeletePolicy(), False, None),
        (RunType.SIMULATE, ReadMode.FULL, DeletePolicy(), False, None),
        (RunType.VALIDATE, ReadMode.FULL, DeletePolicy(), False, "validate runs never delete"),
        (RunType.READ, ReadMode.DELTA, DeletePolicy(), False, "a delta read never deletes"),
        (RunType.READ, ReadMode.FAILED_OF, DeletePolicy(), False, "reads only those, so it never deletes"),
        (RunType.RESYNC, ReadMode.FAILED_OF, DeletePolicy(), False, "reads only those, so it never deletes"),
        (RunType.READ, ReadMode.FULL, DeletePolicy(enabled=False), False, "upsert only"),
        (RunType.READ, ReadMode.FULL, DeletePolicy(), True, "stopped"),
    ],
)
def test_when_deletes_are_considered(run_type, mode, policy, stopped, why):
    got = why_no_deletes(run_type, mode, policy, stopped)
    assert (got is None) if why is None else (why in got)


@pytest.mark.parametrize(
    ("dead", "why"),
    [(0, None), (1, "1 shard part(s) could not be processed, so the read is not complete")],
)
def test_a_dead_shard_part_means_the_read_is_not_complete(dead, why):
    # Given a full read run whose shard parts died (dead-lettered)
    # When deletes are considered
    got = why_no_deletes(RunType.READ, ReadMode.FULL, DeletePolicy(), False, dead)
    # Then nothing is deleted, with the reason
    assert (got is None) if why is None else (why in got)


def test_unreadable_rows_make_a_partial_read_with_a_note():
    assert partial_read(0) is None
    assert partial_read(2).startswith("2 source row(s) could not be read")
    assert "only entities read and out of scope" in partial_read(2)
    named = partial_read(1, ["read incomplete: shard 00001: 0 read of 10 listed when planning", "other"])
    assert "not complete (first: read incomplete: shard 00001: 0 read of 10 listed when planning)" in named


@pytest.mark.parametrize(
    ("proven_gone", "deletes"),
    [
        (None, [("e0", "t0"), ("e1", "t1")]),  # complete read: whatever was not seen is gone
        ({"e1"}, [("e1", "t1")]),  # partial read: e1 was read and out of scope; e0's row may be the unreadable one
        (set(), []),  # partial read and nothing read out of scope: nothing is proven gone
        ({"e1", "e5"}, [("e1", "t1")]),  # an id also seen in scope elsewhere is never deleted
    ],
)
def test_a_partial_read_deletes_only_entities_proven_gone(proven_gone, deletes):
    # Given e0 and e1 not seen in scope
    # When the read was complete, or partial with some ids read and out of scope
    plan = plan_deletes(PROVISIONED, SEEN, DeletePolicy(), proven_gone)
    # Then only the proven ones go
    assert plan.deletes == deletes


def test_entities_not_seen_are_deleted_in_a_stable_order():
    plan = plan_deletes(PROVISIONED, SEEN, DeletePolicy())
    assert plan.deletes == [("e0", "t0"), ("e1", "t1")]
    assert plan.held_reason is None


@pytest.mark.parametrize(
    ("policy", "held"),
    [
        (DeletePolicy(max_count=2), False),
        (DeletePolicy(max_count=1), True),
        (DeletePolicy(max_percent=20), False),
        (DeletePolicy(max_percent=19.9), True),
        (DeletePolicy(max_count=5, max_percent=10), True),
        (DeletePolicy(max_count=None, max_percent=None), False),
    ],
)
def test_a_threshold_holds_every_delete_back(policy, held):
    plan = plan_deletes(PROVISIONED, SEEN, policy)
    assert plan.pending == [("e0", "t0"), ("e1", "t1")]
    assert (plan.deletes == []) is held
    assert (plan.held_reason is not None) is held
    if held:
        assert plan.held_reason.startswith("delete held back: 2 pending deletes")


def _provisioned(n):
    return {f"e{i:04d}": f"t{i}" for i in range(n)}


@pytest.mark.parametrize(
    ("provisioned", "gone", "policy", "held_because"),
    [
        # the default: 500 deletes or 30% of the provisioned entities
        (2000, 500, DeletePolicy(), None),
        (2000, 501, DeletePolicy(), "exceed the threshold of 500 (the default)"),
        (1000, 300, DeletePolicy(), None),
        (1000, 301, DeletePolicy(), "are 30.1% of 1000 provisioned entities, above the threshold of 30% (the default)"),
        (10, 6, DeletePolicy(), "are 60.0% of 10 provisioned entities"),
        # a job's own threshold replaces the default, and says so
        (10, 6, DeletePolicy(max_percent=70), None),
        (2000, 501, DeletePolicy(max_count=1000), None),
        (2000, 20, DeletePolicy(max_count=10), "exceed the threshold of 10"),
        # turned off explicitly: one limit, or both
        (2000, 501, DeletePolicy(max_count=None), None),
        (10, 6, DeletePolicy(max_percent=None), None),
        (10, 10, DeletePolicy(max_count=None, max_percent=None), None),
    ],
)
def test_the_default_threshold_and_a_jobs_own(provisioned, gone, policy, held_because):
    # Given a job with `provisioned` entities of which `gone` were not seen by a complete read
    entities = _provisioned(provisioned)
    seen = set(sorted(entities)[gone:])
    # When the deletes are planned
    plan = plan_deletes(entities, seen, policy)
    # Then they are all held back with the reason, or all go
    assert len(plan.pending) == gone
    if held_because is None:
        assert plan.held_reason is None
        assert len(plan.deletes) == gone
    else:
        assert plan.deletes == []
        assert held_because in plan.held_reason
        assert ("(the default)" in plan.held_reason) is (policy == DeletePolicy())
        stored = DeletePolicy.model_validate(policy.model_dump())  # a stored job is re-read with every field set
        assert plan_deletes(entities, seen, stored).held_reason == plan.held_reason


def test_a_job_without_delete_settings_gets_the_default_threshold():
    policy = DeletePolicy.model_validate({})
    assert (policy.max_count, policy.max_percent, policy.mode) == (500, 30.0, DeleteMode.DELETE)
    off = DeletePolicy.model_validate({"max_count": None, "max_percent": None})
    assert (off.max_count, off.max_percent) == (None, None)


@pytest.mark.parametrize(
    "settings",
    [{"max_count": -1}, {"max_percent": 101}, {"max_percent": -0.5}, {"mode": "soft"}, {"max_counts": 3}],
)
def test_delete_settings_are_validated(settings):
    with pytest.raises(ValidationError):
        DeletePolicy.model_validate(settings)


@pytest.mark.parametrize(
    ("mode", "entity_type", "disabled"),
    [
        (DeleteMode.DELETE, "users", False),
        (DeleteMode.DISABLE, "users", True),
        (DeleteMode.DISABLE, "groups", False),  # a SCIM group has no `active`: it is deleted
    ],
)
def test_disable_mode_disables_users_only(mode, entity_type, disabled):
    assert disables(mode, entity_type) is disabled


def test_nothing_to_delete_gives_an_empty_plan():
    assert plan_deletes(PROVISIONED, set(PROVISIONED), DeletePolicy(max_count=0)).pending == []


HELD = [("e0", "t0"), ("e1", "t1"), ("e2", "t2")]  # recorded when the threshold held them


@pytest.mark.parametrize(
    ("provisioned", "seen_since", "todo", "kept"),
    [
        # nothing happened since: exactly the held deletes run
        ({"e0": "t0", "e1": "t1", "e2": "t2", "e9": "t9"}, set(), HELD, []),
        # e1 came back to the source (a later run saw it): kept
        (
            {"e0": "t0", "e1": "t1", "e2": "t2"},
            {"e1", "e9"},
            [("e0", "t0"), ("e2", "t2")],
            [("e1", "t1", BACK_IN_SOURCE)],
        ),
        # e2 was deleted meanwhile (by a later run, or this very allow delivered before): not again
        ({"e0": "t0", "e1": "t1"}, set(), [("e0", "t0"), ("e1", "t1")], [("e2", "t2", ALREADY_GONE)]),
        # e0 is provisioned again under another target id: that account is not the held one
        ({"e0": "t7", "e1": "t1", "e2": "t2"}, set(), [("e1", "t1"), ("e2", "t2")], [("e0", "t0", RECREATED)]),
        # an allow applied before: all gone, nothing to do
        ({}, set(), [], [(e, t, ALREADY_GONE) for e, t in HELD]),
    ],
)
def test_an_allow_runs_the_held_deletes_still_proven(provisioned, seen_since, todo, kept):
    # Given deletes held with their target ids, and the entity state and later reads since
    # When an admin allows them
    got_todo, got_kept = still_to_delete(HELD, provisioned, seen_since)
    # Then only those still provisioned as held and not seen again are deleted; the rest say why not
    assert got_todo == todo
    assert got_kept == kept


@pytest.mark.parametrize(
    ("runs", "blocked_by"),
    [
        # the held run is still the job's newest: the allow may run
        ([("r2", "2026-12-02T10:00:00Z"), ("r1", "2026-12-01T10:00:00Z")], None),
        ([("r2", "2026-12-02T10:00:00Z")], None),
        # a newer run started (running now, or done, or a delta read): its own delete plan decides
        ([("r3", "2026-12-02T11:00:00Z"), ("r2", "2026-12-02T10:00:00Z")], "r3"),
        ([("r4", "2026-12-02T12:00:00Z"), ("r3", "2026-12-02T11:00:00Z"), ("r2", "2026-12-02T10:00:00Z")], "r4"),
    ],
)
def test_an_allow_deletes_nothing_once_a_newer_run_has_started(runs, blocked_by):
    # Given run r2 held its deletes at 10:00, and the job's runs since
    # When an admin allows them
    reason = newer_run_blocks_allow("r2", "2026-12-02T10:00:00Z", runs)
    # Then they run only while r2 is the newest run; otherwise the reason names the newer run
    if blocked_by is None:
        assert reason is None
    else:
        assert reason is not None
        assert f"run {blocked_by} " in reason
        assert reason.startswith("not applied")
