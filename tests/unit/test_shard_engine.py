"""process_shard: every entity ends in exactly one outcome; the diff decides create/update/skip."""

from typing import Any

import pytest

from syncjobs.connectors.base import Claim, SourceRecord, SourceRowError, TargetEntityGone, TargetError, Written
from syncjobs.engine.diff import entity_hash
from syncjobs.engine.shard import compile_mapping, process_shard
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import RunType
from syncjobs.models.state import EntityState

MAPPING = compile_mapping({"userName": "{{ mail }}", "active": "{{ on == 'y' }}"}, None, "users")


class FakeTarget:
    name = "fake"

    def __init__(self, fail: dict[str, TargetError] | None = None, gone: set[str] | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail, self.gone = fail or {}, gone or set()

    def create(self, entity_type: str, resource: dict[str, Any], claim: Claim | None = None) -> Written:
        self.calls.append(("create", resource["userName"]))
        if resource["userName"] in self.fail:
            raise self.fail[resource["userName"]]
        return Written(f"t-{resource['userName']}")

    def update(self, entity_type: str, target_id: str, resource: dict[str, Any]) -> Written:
        self.calls.append(("update", target_id))
        if target_id in self.gone:
            raise TargetEntityGone("gone", status=404)
        return Written(target_id)


def rec(row: int, eid: str, mail: str, on: str = "y") -> SourceRecord:
    return SourceRecord(row, eid, {"mail": mail, "on": on})


def run(records, states=None, run_type=RunType.READ, target=None, run_id="r1"):
    target = target if target is not None else FakeTarget()
    result = process_shard(run_id, "users", run_type, MAPPING, records, lambda ids: dict(states or {}), target)
    return result, target


def counts(result) -> dict[str, int]:
    return {k: v for k, v in result.counts()["users"].items() if v}


def test_given_new_changed_and_unchanged_entities_then_create_update_skip():
    unchanged = {"userName": "c@x", "active": True, "externalId": "c"}
    states = {"b": EntityState("b", "tb", "old-hash"), "c": EntityState("c", "tc", entity_hash(unchanged))}
    result, target = run([rec(2, "a", "a@x"), rec(3, "b", "b@x"), rec(4, "c", "c@x")], states)
    assert counts(result) == {"created": 1, "updated": 1, "skipped": 1}
    assert target.calls == [("create", "a@x"), ("update", "tb")]
    assert [s.entity_id for s in result.state_changes] == ["a", "b"]  # no write for the unchanged one


def test_given_resync_then_unchanged_entities_are_written_too():
    same = {"userName": "c@x", "active": True, "externalId": "c"}
    result, target = run([rec(2, "c", "c@x")], {"c": EntityState("c", "tc", entity_hash(same))}, RunType.RESYNC)
    assert counts(result) == {"updated": 1}
    assert target.calls == [("update", "tc")]


@pytest.mark.parametrize("run_type", [RunType.SIMULATE, RunType.VALIDATE])
def test_given_simulate_or_validate_then_the_target_is_never_called(run_type):
    result, target = run([rec(2, "a", "a@x"), rec(3, "b", "")], run_type=run_type)
    assert target.calls == []
    assert result.state_changes == []
    assert counts(result)["failed"] == 1


def test_given_row_errors_mapping_errors_target_errors_and_duplicates_then_each_fails_with_a_reason():
    target = FakeTarget(fail={"boom@x": TargetError("create failed: HTTP 400 invalid", status=400)})
    records = [
        SourceRowError(2, "row 2", "missing id"),
        rec(3, "a", ""),
        rec(4, "b", "boom@x"),
        rec(5, "c", "c@x"),
        rec(6, "c", "c2@x"),
    ]
    result, _ = run(records, target=target)
    assert counts(result) == {"created": 1, "failed": 4}
    assert [line.reason for line in result.lines[Outcome.FAILED]] == [
        "missing id",
        "mapping failed: userName: is required but mapped to an empty value",
        "create failed: HTTP 400 invalid",
        "duplicate id: row 5 has the same id",
    ]
    assert len(result.failures) == 4
    assert result.first_failed_at is not None


def test_given_the_target_lost_an_entity_then_it_is_created_again():
    result, target = run(
        [rec(2, "a", "a@x")], {"a": EntityState("a", "gone-id", "old")}, target=FakeTarget(gone={"gone-id"})
    )
    assert counts(result) == {"created": 1}
    assert target.calls == [("update", "gone-id"), ("create", "a@x")]


def test_given_state_written_by_this_run_then_a_retried_shard_counts_the_same_outcome_without_writing():
    resource = {"userName": "a@x", "active": True, "externalId": "a"}
    states = {"a": EntityState("a", "ta", entity_hash(resource), run_id="r1", outcome="created")}
    result, target = run([rec(2, "a", "a@x")], states, run_id="r1")
    assert counts(result) == {"created": 1}
    assert target.calls == []
    assert result.state_changes == []


def test_given_state_from_an_earlier_run_then_unchanged_is_skipped():
    resource = {"userName": "a@x", "active": True, "externalId": "a"}
    states = {"a": EntityState("a", "ta", entity_hash(resource), run_id="r0", outcome="created")}
    result, _ = run([rec(2, "a", "a@x")], states, run_id="r1")
    assert counts(result) == {"skipped": 1}


def test_given_simulate_then_unchanged_entities_count_as_the_updates_a_resync_would_make():
    same = {"userName": "c@x", "active": True, "externalId": "c"}
    result, target = run([rec(2, "c", "c@x")], {"c": EntityState("c", "tc", entity_hash(same))}, RunType.SIMULATE)
    assert counts(result) == {"updated": 1}
    assert target.calls == []


GROUP_MAPPING = compile_mapping({"displayName": "{{ name }}"}, None, "groups")


class GroupTarget:
    name = "fake"

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    def create(self, entity_type: str, resource: dict[str, Any], claim: Claim | None = None) -> Written:
        self.created.append(resource)
        return Written(f"t-{resource['externalId']}")

    def update(self, entity_type: str, target_id: str, resource: dict[str, Any]) -> Written:
        return Written(target_id)


def test_given_a_group_then_its_members_are_the_target_ids_of_provisioned_users():
    # Given users E1 and E2 provisioned as t1 and t2, and E9 never provisioned
    provisioned = {"E1": "t1", "E2": "t2"}
    asked: list[list[str]] = []

    def lookup_members(ids: list[str]) -> dict[str, str]:
        asked.append(ids)
        return {i: provisioned[i] for i in ids if i in provisioned}

    group = SourceRecord(2, "G1", {"name": "Finance"}, None, ("E2", "E9", "E1"))
    target = GroupTarget()
    # When the group shard is processed
    result = process_shard(
        "r1", "groups", RunType.READ, GROUP_MAPPING, [group], lambda ids: {}, target, lookup_members=lookup_members
    )
    # Then the group is created with the known members, sorted, and the source id as externalId
    assert target.created == [
        {
            "displayName": "Finance",
            "externalId": "G1",
            "members": [{"value": "t1", "type": "User"}, {"value": "t2", "type": "User"}],
        }
    ]
    assert asked == [["E2", "E9", "E1"]]  # one lookup for the whole shard
    (line,) = result.lines[Outcome.CREATED]
    assert line.reason == "1 member(s) left out, not provisioned by this job: E9"


def test_given_a_member_provisioned_later_then_the_group_is_updated():
    # Given a group written when only E1 was provisioned
    group = SourceRecord(2, "G1", {"name": "Finance"}, None, ("E1", "E2"))
    first = process_shard(
        "r1",
        "groups",
        RunType.READ,
        GROUP_MAPPING,
        [group],
        lambda ids: {},
        GroupTarget(),
        lookup_members=lambda ids: {"E1": "t1"},
    )
    (state,) = first.state_changes
    # When E2 is provisioned too and the group is read again
    second = process_shard(
        "r2",
        "groups",
        RunType.READ,
        GROUP_MAPPING,
        [group],
        lambda ids: {"G1": state},
        GroupTarget(),
        lookup_members=lambda ids: {"E1": "t1", "E2": "t2"},
    )
    # Then the membership change is an update, with nothing left out
    (line,) = second.lines[Outcome.UPDATED]
    assert line.reason == ""


class AdoptingTarget(FakeTarget):
    """Every create finds an existing account: it records the claim it was given and adopts."""

    def __init__(self) -> None:
        super().__init__()
        self.claims: list[tuple[str, str | None]] = []

    def create(self, entity_type: str, resource: dict[str, Any], claim: Claim | None = None) -> Written:
        assert claim is not None
        self.claims.append((claim.entity_id, claim.owner_of("t-shared")))
        return Written("t-shared", adopted=True, reason="matched existing account t-shared (externalId x)")


def test_given_users_then_each_carries_its_source_id_as_externalId_unless_the_mapping_sets_it():
    # Given a mapping without externalId, and one that sets it
    own = compile_mapping({"userName": "{{ mail }}", "externalId": "HR-{{ mail }}"}, None, "users")
    # When a user is created with each
    plain, _ = run([rec(2, "E1", "a@x")])
    mapped = process_shard("r1", "users", RunType.READ, own, [rec(2, "E1", "a@x")], lambda ids: {}, FakeTarget())
    # Then the first carries the source id, the second the mapping's value
    assert plain.lines[Outcome.CREATED][0].content["externalId"] == "E1"
    assert mapped.lines[Outcome.CREATED][0].content["externalId"] == "HR-a@x"


def test_given_an_adoption_then_owners_come_from_entity_state_and_from_this_shard():
    # Given entity state where no entity owns t-shared, asked only when an adoption asks
    asked: list[str] = []

    def lookup_owners(target_id: str) -> str | None:
        asked.append(target_id)
        return {"t-other": "E9"}.get(target_id)

    target = AdoptingTarget()
    # When two entities of one shard are created and both find t-shared
    result = process_shard(
        "r1",
        "users",
        RunType.READ,
        MAPPING,
        [rec(2, "E1", "a@x"), rec(3, "E2", "b@x")],
        lambda ids: {},
        target,
        lookup_owners=lookup_owners,
    )
    # Then the first is told nobody owns it; the second that E1 (written earlier in this shard) does
    assert target.claims == [("E1", None), ("E2", "E1")]
    assert asked == ["t-shared"]  # the entity state is asked once, for that target id
    assert result.lines[Outcome.CREATED][0].reason == "matched existing account t-shared (externalId x)"
