"""The steps a provision on demand shows, from what the engine did with the entity (engine/provision_trace.py)."""

from __future__ import annotations

import pytest

from syncjobs.engine.diff import entity_hash
from syncjobs.engine.outcome_log import LogLine
from syncjobs.engine.provision_trace import REDACTED, Exchange, Observed, provision_steps, provisioned, redacted
from syncjobs.models.outcome import Outcome
from syncjobs.models.state import EntityState

RESOURCE = {"userName": "ada@example.com", "externalId": "E1"}


def observed(
    outcome: Outcome,
    reason: str = "",
    content: dict | None = RESOURCE,
    stored: EntityState | None = None,
    scope: str | None = None,
    exchanges: list[Exchange] | None = None,
) -> Observed:
    return Observed(
        job_id="j",
        entity_type="users",
        entity_id="E1",
        run_id="r1",
        run_status="succeeded",
        row=2,
        scope=scope,
        stored=stored,
        outcome=outcome,
        line=LogLine("users", "E1", "t1" if content else "", 2, reason, content),
        exchanges=exchanges or [],
    )


def summaries(seen: Observed) -> dict[str, str]:
    return {s.step: s.summary for s in provision_steps(seen)}


def test_a_new_entity_shows_every_step_in_order_with_the_create_call():
    call = Exchange("POST", "/v2/Users", 201, RESOURCE, {"id": "t1", **RESOURCE})
    steps = provision_steps(observed(Outcome.CREATED, exchanges=[call]))
    assert [s.step for s in steps] == ["read", "scope", "mapping", "state", "diff", "target", "outcome"]
    shown = {s.step: s for s in steps}
    assert shown["state"].summary.startswith("no stored state")
    assert shown["diff"].summary.startswith("new")
    assert shown["target"].summary == "POST /v2/Users -> 201"
    assert shown["outcome"].summary == "created"
    assert shown["outcome"].detail == {"target_id": "t1", "run_id": "r1", "run_status": "succeeded"}


@pytest.mark.parametrize(
    ("stored_hash", "diff"),
    [
        (entity_hash(RESOURCE), "unchanged since the last write (skip)"),
        ("old", "changed since the last write (update)"),
    ],
)
def test_the_diff_compares_the_stored_hash_with_the_mapped_resource(stored_hash, diff):
    stored = EntityState("E1", "t1", stored_hash, "r0", "created")
    shown = summaries(observed(Outcome.SKIPPED, "unchanged", stored=stored))
    assert shown["diff"] == diff
    assert shown["state"] == "provisioned as t1 by run r0 (created)"
    assert shown["target"] == "no call to the target"


def test_an_entity_out_of_scope_stops_after_the_scope_step_and_says_why():
    steps = provision_steps(observed(Outcome.SKIPPED, "out of scope", content=None, scope="{{ status == 'x' }}"))
    assert [s.step for s in steps] == ["read", "scope", "outcome"]
    assert steps[1].summary == "out of scope: the filter {{ status == 'x' }} is false"
    assert steps[2].summary == "skipped: out of scope"


def test_a_mapping_that_fails_is_the_last_step_before_the_outcome():
    steps = provision_steps(observed(Outcome.FAILED, "mapping failed: no column x", content=None))
    assert [(s.step, s.summary) for s in steps[2:]] == [
        ("mapping", "mapping failed: no column x"),
        ("outcome", "failed: mapping failed: no column x"),
    ]


def test_a_row_that_could_not_be_read_says_so_and_ends_there():
    seen = observed(Outcome.FAILED, "row has 3 fields, the header 5", content=None)
    steps = provision_steps(Observed(**{**seen.__dict__, "unreadable": True}))
    assert [(s.step, s.summary) for s in steps] == [
        ("read", "read users E1 (row 2): the row could not be read: row has 3 fields, the header 5"),
        ("outcome", "failed: row has 3 fields, the header 5"),
    ]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ({"password": "p", "userName": "u"}, {"password": REDACTED, "userName": "u"}),
        ({"a": [{"Token": "t"}]}, {"a": [{"Token": REDACTED}]}),
        ({"clientSecret": 1, "n": {"x_credential": "c"}}, {"clientSecret": REDACTED, "n": {"x_credential": REDACTED}}),
        ("plain", "plain"),
    ],
)
def test_secret_like_attributes_are_redacted_at_any_depth(value, shown):
    assert redacted(value) == shown


def test_a_call_s_secret_like_body_attributes_never_reach_the_steps():
    call = Exchange("POST", "/Users", 201, {"password": "hunter2"}, {"id": "t1"})
    result = provisioned(observed(Outcome.CREATED, exchanges=[call]))
    assert "hunter2" not in result.model_dump_json()
    assert (result.outcome, result.target_id, result.run_id) == (Outcome.CREATED, "t1", "r1")
