"""A run of only an earlier run's failed entities: which ids, which records, which earlier runs qualify."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syncjobs.connectors.base import SourceRecord, SourceRowError
from syncjobs.engine import failed_of
from syncjobs.engine.outcome_log import COLUMNS, LogLine, encode, header
from syncjobs.models.events import StartEvent
from syncjobs.models.job import TraceLevel
from syncjobs.models.run import Run

LINES = [
    LogLine("users", "E1", "", 2, "target answered 400: bad email"),
    LogLine("users", "=E2", "", 3, "mapping: emails[0].value: empty"),  # a formula-looking id, guarded in CSV
    LogLine("users", "", "", 4, "row 4: unreadable"),  # no id: cannot be asked for again
    LogLine("groups", "G1", "", 2, "target answered 500"),
    LogLine("users", "E1", "", 9, "duplicate id of row 2"),  # listed twice: asked for once
]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_the_ids_of_a_failed_log_per_entity_type_each_once_as_the_source_spells_them(fmt):
    # Given a failed log as a run writes it, in either format
    log = header(fmt) + encode(LINES, TraceLevel.IDS, fmt)
    # When its ids are read
    ids = failed_of.failed_ids(log, fmt)
    # Then each entity type lists its ids once, in log order, unguarded; rows without an id are left out
    assert ids == {"users": ["E1", "=E2"], "groups": ["G1"]}


def test_a_failed_log_of_only_rows_without_an_id_names_no_entity():
    log = header("csv") + encode([LogLine("users", "", "", 4, "unreadable")], TraceLevel.IDS, "csv")
    assert failed_of.failed_ids(log, "csv") == {}
    assert COLUMNS[:2] == ("entity_type", "entity_id")  # the columns failed_ids reads


def test_the_ids_survive_their_trip_through_s3():
    ids = {"users": ["E1", "Ü2"], "groups": ["G1"]}
    assert failed_of.load(failed_of.dump(ids)) == ids


def test_only_the_wanted_records_pass_and_unreadable_rows_only_when_their_id_is_known_and_wanted():
    records = [
        SourceRecord(2, "E1", {}),
        SourceRecord(3, "E2", {}),
        SourceRowError(4, "E3", "bad encoding", id_known=True),
        SourceRowError(5, "E4", "bad encoding", id_known=True),
        SourceRowError(6, "", "no id"),
        SourceRecord(7, "E5", {}),
    ]
    passed = list(failed_of.only(records, ["E1", "E3", "E5", "E9"]))
    assert [(r.row, r.entity_id) for r in passed] == [(2, "E1"), (4, "E3"), (7, "E5")]


def a_run(**changes: object) -> Run:
    values: dict[str, object] = {
        "run_id": "r1",
        "job_id": "hr",
        "status": "finished_with_errors",
        "run_type": "read",
        "trigger": "cli",
        "triggered_by": "alice",
        "request_id": "q1",
        "created_at": datetime(2026, 11, 21, tzinfo=UTC),
        "counts": {"users": {"created": 3, "updated": 0, "deleted": 0, "skipped": 0, "failed": 4}},
        "log_keys": {"failed": "runs/r1/logs/failed.csv"},
    }
    return Run.model_validate({**values, **changes})


@pytest.mark.parametrize(
    ("changes", "job_id", "expected"),
    [
        ({}, "hr", None),
        ({}, "crm", ("invalid", "is a run of job hr, not of crm")),
        ({"status": "running"}, "hr", ("conflict", "is still running; retry it when it has ended")),
        ({"status": "stopping"}, "hr", ("conflict", "is still stopping")),
        (
            {"status": "succeeded", "counts": {"users": {"created": 3, "failed": 0}}},
            "hr",
            ("conflict", "has no failed entities"),
        ),
        ({"log_keys": {}}, "hr", ("conflict", "kept no failed log")),
        ({"status": "stopped"}, "hr", None),
        ({"status": "failed"}, "hr", None),
    ],
)
def test_which_earlier_runs_a_failed_of_run_may_retry(changes, job_id, expected):
    got = failed_of.refusal(a_run(**changes), job_id)
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert got[0] == expected[0]
        assert expected[1] in got[1]


def test_failed_of_travels_from_the_start_event_to_the_start_request():
    event = StartEvent.model_validate({"job_id": "hr", "trigger": "cli", "request_id": "q2", "failed_of": "r1"})
    assert event.job_request().failed_of == "r1"
    assert StartEvent.model_validate(event.payload()).failed_of == "r1"


def test_failed_of_is_refused_for_a_collection():
    with pytest.raises(ValueError, match="failed_of"):
        StartEvent.model_validate({"collection_id": "nightly", "trigger": "cli", "failed_of": "r1"})


def test_the_wanted_ids_the_read_did_not_meet_are_the_ones_not_in_the_source_any_more():
    wanted = {"users": ["E1", "E2", "E3"], "groups": ["G1"]}
    read = {"users": {"E1", "E3", "E9"}}
    assert failed_of.not_in_source(wanted, read) == [("users", "E2"), ("groups", "G1")]
    assert failed_of.not_in_source(wanted, {"users": {"E1", "E2", "E3"}, "groups": {"G1"}}) == []


def test_failed_of_survives_the_event_that_restarts_a_request_through_an_approval():
    # Given a request of only a run's failed entities (its preview and its approved run are started by events)
    request = StartEvent.model_validate(
        {"job_id": "hr", "trigger": "cli", "request_id": "q3", "failed_of": "r1"}
    ).job_request()
    # When it is turned into the event that starts it again, Then it still names the run
    assert StartEvent.of(request).job_request().failed_of == "r1"
