"""Job definitions and start events: validation errors name the field."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from syncjobs.admin.operations import InvalidInput, load_job_file, parse_job
from syncjobs.models.events import StartEvent
from syncjobs.models.run import RunType, Trigger

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "jobs" / "hr-to-scim.yaml"


def example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def test_the_example_job_file_is_valid():
    job = load_job_file(EXAMPLE)
    assert job.job_id == "hr-to-scim"
    assert job.shard_size == 250
    assert job.target.adopt_unmarked is False  # unmarked target accounts are never taken over by default
    assert job.target.member_chunk_size == 100  # group members a PATCH request, the cap several targets set


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d.update(job_id="Bad Id"), "job_id: String should match pattern"),
        (lambda d: d["source"].update(type="ftp"), "source.type: must be one of 'csv_s3', 'scim' (got 'ftp')"),
        (lambda d: d["target"].update(base_url="ftp://x"), "target.base_url: String should match pattern"),
        (lambda d: d.update(shard_size=0), "shard_size: Input should be greater than or equal to 1"),
        (lambda d: d["mapping"]["users"].pop("userName"), "mapping.users.userName: is required"),
        (lambda d: d["trace"].update(deleted="content"), "trace.deleted: Value error, deleted entities never"),
        (lambda d: d.update(colour="blue"), "colour: Extra inputs are not permitted"),
        (lambda d: d["source"].pop("bucket"), "source.bucket: Field required"),
        (
            lambda d: d.update(
                entity_types=["users", "groups"], mapping={**d["mapping"], "groups": {"displayName": "x"}}
            ),
            "source.groups: is required for entity type groups",
        ),
        (
            lambda d: d.update(mapping={**d["mapping"], "groups": {"displayName": "x", "members": "{{ m }}"}}),
            "mapping.groups.members: is set by syncjobs",
        ),
        (lambda d: d["source"].update(groups={"key": "g.csv"}), "source.groups.id_column: Field required"),
        (
            lambda d: d["mapping"]["users"].update({"name": "{{ n }}", "name.givenName": "{{ g }}"}),
            "mapping.users: name and name.givenName: conflict, name sets the whole attribute",
        ),
        (
            lambda d: d["mapping"]["users"].update(
                {f"{ENTERPRISE}:manager": "{{ m }}", f"{ENTERPRISE}:manager.value": "{{ m }}"}
            ),
            f"mapping.users: {ENTERPRISE}:manager and {ENTERPRISE}:manager.value: conflict",
        ),
        (lambda d: d["target"].update(adopt_unmarked="yes"), "target.adopt_unmarked: Input should be a valid boolean"),
        (
            lambda d: d["target"].update(member_chunk_size=0),
            "target.member_chunk_size: Input should be greater than or equal to 1",
        ),
        (
            lambda d: d["target"].update(member_chunk_size=1001),
            "target.member_chunk_size: Input should be less than or equal to 1000",
        ),
    ],
)
def test_invalid_job_fields_are_named(change, problem):
    document = example()
    change(document)
    with pytest.raises(InvalidInput) as err:
        parse_job(document)
    field, message = problem.split(": ", 1)
    assert any(p.startswith(f"{field}: ") and message in p for p in err.value.problems), err.value.problems


def test_given_a_file_that_is_not_yaml_then_the_error_says_so(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_text("job_id: [unclosed\n")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load_job_file(path)


def test_given_the_constant_input_of_a_rule_then_two_deliveries_in_one_minute_are_one_request():
    first = StartEvent.model_validate({"job_id": "j", "type": "resync"})
    a = first.to_request(datetime(2026, 1, 1, 8, 0, 1, tzinfo=UTC))
    b = first.to_request(datetime(2026, 1, 1, 8, 0, 59, tzinfo=UTC))
    assert a.request_id == b.request_id
    assert a.run_type is RunType.RESYNC
    assert a.trigger is Trigger.SCHEDULE


def test_given_an_api_request_then_its_request_id_is_kept():
    event = StartEvent.model_validate({"job_id": "j", "trigger": "cli", "triggered_by": "ada", "request_id": "r-1"})
    assert event.to_request().request_id == "r-1"
