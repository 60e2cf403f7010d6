"""Hostile HR exports on the local stack: stray quotes delete nobody and are named by line; a legitimate
quoted multi-line field provisions."""

import csv
import io

import boto3
import pytest

from syncjobs.admin import operations
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import RunStatus
from syncjobs_local.demo import prepare, start, wait_for_run
from tests.e2e.helpers import log_rows, scim_users

pytestmark = pytest.mark.e2e

TITLE = 4  # the export's columns: employee_id, email, first_name, last_name, title, ...


def edit_titles(bucket: str, key: str, titles: dict[str, bytes]) -> None:
    """Write `titles` (employee id -> raw bytes, quotes as they are) into the export's title column,
    byte for byte, the way a hand-edited or badly generated export holds them."""
    s3 = boto3.client("s3")
    lines = s3.get_object(Bucket=bucket, Key=key)["Body"].read().split(b"\n")
    for index, line in enumerate(lines):
        fields = line.split(b",")
        if fields[0].decode() in titles:
            fields[TITLE] = titles[fields[0].decode()]
            lines[index] = b",".join(fields)
    s3.put_object(Bucket=bucket, Key=key, Body=b"\n".join(lines))


def provisioned_twenty(stack, shard_size: int):
    """Given 20 users provisioned from a clean export (shards of `shard_size`)."""
    prepared = prepare(stack, users=20, bad_rows=False, shard_size=shard_size, subscriber=None)
    first = wait_for_run(start(stack, prepared.job_id), stack=stack)
    assert (first.status, first.totals()[Outcome.CREATED]) == (RunStatus.SUCCEEDED, 20)
    return prepared


@pytest.mark.parametrize("shard_size", [4, 50])
def test_stray_quotes_inside_unquoted_fields_fail_their_two_rows_and_delete_nobody(stack, shard_size):
    prepared = provisioned_twenty(stack, shard_size)
    # When one title reads Engineer 6'2" and another, ten rows later, Lead "Ops (unquoted fields)
    edit_titles(prepared.bucket, prepared.key, {"E000005": b"Engineer 6'2\"", "E000015": b'Lead "Ops'})
    run = wait_for_run(start(stack, prepared.job_id), stack=stack)
    # Then the run finished with errors: those two rows failed, nothing was deleted
    totals = run.totals()
    assert run.status is RunStatus.FINISHED_WITH_ERRORS
    assert (totals[Outcome.FAILED], totals[Outcome.DELETED]) == (2, 0)
    assert set(scim_users(stack)) == set(prepared.export.valid)
    # And the failed log names both lines (header = line 1) and the column
    failed = {r["entity_id"]: r["reason"] for r in log_rows(stack, run.log_keys["failed"])}
    assert set(failed) == {"E000005", "E000015"}
    assert failed["E000005"].startswith("line 6, column 'title': a quote inside an unquoted field")
    assert failed["E000015"].startswith("line 16, column 'title': a quote inside an unquoted field")


@pytest.mark.parametrize("shard_size", [4, 50])
def test_a_stray_quote_at_the_start_of_a_field_swallowing_rows_stops_every_delete(stack, shard_size):
    prepared = provisioned_twenty(stack, shard_size)
    # When a title opens a quote at the start of its field ("Ops) and a stray quote ten rows later closes it
    edit_titles(prepared.bucket, prepared.key, {"E000005": b'"Ops', "E000015": b'Lead "Ops'})
    run = wait_for_run(start(stack, prepared.job_id), stack=stack)
    # Then the lines it swallowed are one failed record, named from-to, and the read is incomplete
    assert run.status is RunStatus.FINISHED_WITH_ERRORS
    assert run.totals()[Outcome.DELETED] == 0
    assert "1 source row(s) could not be read" in (run.deletes_note or "")
    (failed,) = log_rows(stack, run.log_keys["failed"])
    assert failed["reason"].startswith(
        "lines 6-16: a quoted field opened in column 'title' on line 6 closes on line 16 and holds 10 line(s) "
        "that read as whole records of this export"
    )
    # And all 20 users are still in the target
    assert set(scim_users(stack)) == set(prepared.export.valid)


def test_a_legit_quoted_multi_line_address_provisions_every_user(stack):
    # Given an export whose address column holds quoted values over two or three lines (commas too)
    prepared = prepare(stack, users=20, bad_rows=False, shard_size=4, subscriber=None)
    s3 = boto3.client("s3")
    body = s3.get_object(Bucket=prepared.bucket, Key=prepared.key)["Body"].read().decode()
    header, *rows = csv.reader(io.StringIO(body))
    addresses = {
        row[0]: f"Flat {i}, The Mews\n{i} High St\nLeeds, UK" if i % 2 else f"{i} Main St\nSpringfield"
        for i, row in enumerate(rows, 1)
    }
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([[*header, "address"], *([*r, addresses[r[0]]] for r in rows)])
    s3.put_object(Bucket=prepared.bucket, Key=prepared.key, Body=out.getvalue().encode())
    # And a job that maps it to the SCIM address
    mapping = prepared.document["mapping"]
    addresses_expression = "{{ [{'streetAddress': address, 'type': 'work'}] }}"
    mapping = {**mapping, "users": {**mapping["users"], "addresses": addresses_expression}}
    operations.apply_job(operations.parse_job({**prepared.document, "mapping": mapping}))
    # When the job runs
    run = wait_for_run(start(stack, prepared.job_id), stack=stack)
    # Then every user is provisioned, with the address as written
    assert run.status is RunStatus.SUCCEEDED
    assert run.totals()[Outcome.CREATED] == 20
    users = scim_users(stack)
    assert set(users) == set(prepared.export.valid)
    assert {u: users[u]["addresses"][0]["streetAddress"] for u in users} == addresses
