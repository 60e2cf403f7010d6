"""Preflight: what makes every shard of a run fail is named before the run is planned (pure checks)."""

import pytest

from syncjobs.connectors.csv_s3 import CsvSourceError
from syncjobs.engine.mapping import check_expression, referenced_names
from syncjobs.engine.preflight import (
    SecretLookup,
    SecretState,
    column_problems,
    mapping_problems,
    probe_problem,
    secret_fields,
    secret_problem,
    under_prefix,
)
from syncjobs.models.job import JobDefinition
from syncjobs.models.outcome import EntityType
from tests.unit.test_csv_source import source

HEADER = ["employee_id", "email", "first_name", "last_name", "status", "modified_at"]


def job(**overrides) -> JobDefinition:
    document = {
        "job_id": "j",
        "name": "J",
        "source": {"type": "csv_s3", "bucket": "bkt", "key": "u.csv", "id_column": "employee_id"},
        "target": {"type": "scim", "base_url": "https://t.example/scim", "token_secret": "syncjobs/t"},
        "mapping": {"users": {"userName": "{{ email | lower }}", "name.givenName": "{{ first_name }}"}},
    }
    document.update(overrides)
    return JobDefinition.model_validate(document)


@pytest.mark.parametrize(
    ("expression", "problems"),
    [
        ("{{ email | lower }}", []),
        ("{{ email | lowr }}", ["a: unknown filter 'lowr'"]),
        ("{% if email %}{{ email | nope }}{% endif %}", ["a: unknown filter 'nope'"]),  # jinja defers these
        ("{{ n is oddd }}", ["a: unknown test 'oddd'"]),
        ("{{ email ", ["a: invalid expression: unexpected end of template, expected 'end of print statement'."]),
    ],
    ids=["fine", "filter-typo", "filter-in-if", "test-typo", "syntax"],
)
def test_given_an_expression_when_checked_then_each_problem_names_the_attribute(expression, problems):
    assert check_expression("a", expression) == problems


def test_given_an_expression_then_its_columns_are_its_free_names_less_jinjas_globals():
    expression = "{{ [{'value': email | trim}] }}{% set n = range(2) %}{{ n }} {{ first_name }}"
    assert referenced_names(expression) == {"email", "first_name"}


def test_given_a_job_with_a_filter_typo_then_its_mapping_problem_names_the_field():
    bad = job(mapping={"users": {"userName": "{{ email | lowr }}"}}, scope="{{ status is activ }}")
    assert mapping_problems(bad) == [
        "mapping.users.userName: unknown filter 'lowr'",
        "scope.users: unknown test 'activ'",
    ]


@pytest.mark.parametrize(
    ("overrides", "problems"),
    [
        ({}, []),
        (
            {"mapping": {"users": {"userName": "{{ emial }}"}}},
            ["mapping.users.userName: column 'emial' is not in the header of s3://bkt/u.csv"],
        ),
        (
            {"source": {"type": "csv_s3", "bucket": "bkt", "key": "u.csv", "id_column": "id", "modified_column": "m"}},
            [
                "source.id_column: column 'id' is not in the header of s3://bkt/u.csv",
                "source.modified_column: column 'm' is not in the header of s3://bkt/u.csv",
            ],
        ),
        (
            {"scope": "{{ department != 'x' }}"},
            ["scope.users: column 'department' is not in the header of s3://bkt/u.csv"],
        ),
    ],
    ids=["all-there", "mapped-column", "id-and-modified", "scope-column"],
)
def test_given_a_header_then_each_column_the_job_reads_and_it_lacks_is_named(overrides, problems):
    found = column_problems(job(**overrides), EntityType.USERS, HEADER)
    assert [p.split(" (")[0] for p in found] == problems
    assert all(p.endswith(f"({', '.join(HEADER)})") for p in found)  # and the header it has


def test_given_a_scim_source_then_there_is_no_header_to_check():
    scim = job(source={"type": "scim", "base_url": "https://s.example/scim", "token_secret": "syncjobs/s"})
    assert column_problems(scim, EntityType.USERS, []) == []
    assert secret_fields(scim) == [("source.token_secret", "syncjobs/s"), ("target.token_secret", "syncjobs/t")]


@pytest.mark.parametrize(
    ("name", "lookup", "problem"),
    [
        ("syncjobs/t", SecretLookup(SecretState.FOUND), None),
        ("syncjobs/t", SecretLookup(SecretState.MISSING), "target.token_secret: secret 'syncjobs/t' does not exist"),
        (
            "syncjobs/t",
            SecretLookup(SecretState.UNREADABLE, "AccessDenied"),
            "target.token_secret: secret 'syncjobs/t' cannot be read: AccessDenied",
        ),
        (
            "other/t",
            None,
            "target.token_secret: secret 'other/t' is not under the prefix 'syncjobs/' that the functions may read",
        ),
        ("ssm:/syncjobs/t", SecretLookup(SecretState.FOUND), None),
    ],
    ids=["found", "missing", "unreadable", "outside-prefix", "ssm-leading-slash"],
)
def test_given_a_secret_lookup_then_the_problem_names_field_and_secret(name, lookup, problem):
    assert secret_problem("target.token_secret", name, "syncjobs/", lookup) == problem


def test_given_ssm_names_then_the_prefix_ignores_the_leading_slash_as_the_arn_does():
    assert under_prefix("ssm:/syncjobs/x", "syncjobs/")
    assert under_prefix("ssm:syncjobs/x", "syncjobs/")
    assert not under_prefix("ssm:/other/x", "syncjobs/")


@pytest.mark.parametrize(
    ("status", "problem"),
    [
        (200, None),
        (401, "target.token_secret: the target https://t refused the credentials (HTTP 401 Unauthorized)"),
        (403, "target.token_secret: the target https://t refused the credentials (HTTP 403 Unauthorized)"),
        (
            404,
            "target.base_url: https://t/Users does not exist (HTTP 404 Unauthorized): "
            "is the base URL the SCIM endpoint?",
        ),
        (429, None),
        (503, None),
        (None, None),
    ],
)
def test_given_a_probe_answer_then_only_what_retrying_cannot_change_is_a_problem(status, problem):
    assert probe_problem("target", "https://t", status, "Unauthorized") == problem


# ---------------------------------------------------------------------- the export's header
def test_given_an_export_then_its_header_is_read_from_its_first_record_only():
    assert source(b"\xef\xbb\xbfid, email\r\n1,a@x\n").header() == ["id", "email"]


def test_given_a_cr_only_export_then_the_header_says_so_instead_of_crashing():
    with pytest.raises(CsvSourceError, match=r"s3://bkt/k.csv: .*line ends are CR only"):
        source(b"id,email\r1,a@x\r2,b@x\r").header()


def test_given_a_header_field_over_the_csv_field_limit_then_the_header_names_the_field():
    data = b"id,email," + b"x" * 140_000 + b"\n1,a@x,y\n"
    with pytest.raises(CsvSourceError, match=r"field size limit \(131072 characters\): field 3 \('xxxx"):
        source(data).header()


def test_given_a_cr_only_export_then_planning_names_the_problem_too():
    with pytest.raises(CsvSourceError, match="CR only"):
        source(b"id,email\r1,a@x\r2,b@x\r").plan(10)


@pytest.mark.parametrize(
    ("data", "problem"),
    [(b"", "is empty"), (b"  \n", "is empty"), (b'"id,email\n1,a\n' + b"x" * (1 << 20), "no line break")],
)
def test_given_an_unusable_export_then_the_header_names_the_problem(data, problem):
    with pytest.raises(CsvSourceError, match=problem):
        source(data).header()
