"""Notifications on the local stack: runs fail, fail, fail, succeed, succeed (an export whose every row
fails, then the good one) under each SAP policy, with a Netwrix "records are updated" subscriber beside
the default one; every stream record fed again, three times, sends nothing more.

The failing runs fail entity by entity (every row's e-mail is blank, so userName is empty): they run,
so "running with error" mails are due. A wrong target token no longer makes such runs: start_run's
preflight fails the run outright at once (tests/e2e/test_preflight.py)."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from syncjobs.admin import operations
from syncjobs.models.run import Run, RunStatus
from syncjobs.store import secrets
from syncjobs_local.demo import SECRET_NAME, Prepared, prepare, start, wait_for_run
from syncjobs_local.stack import LocalStack
from tests.e2e.mail_kit import what_happened

pytestmark = pytest.mark.e2e

ADMIN, AUDITOR = "it-admins@example.com", "auditor@example.com"
RWE, FWE, SUCCESS = "Running with Error", "Finished with Error", "Success"


def set_token(stack: LocalStack, token: str) -> None:
    boto3.client("secretsmanager").put_secret_value(SecretId=SECRET_NAME, SecretString=token)
    secrets.forget()  # a new Lambda environment would read the secret afresh


def every_row_failing(export: bytes) -> bytes:
    """The export with every row's e-mail blank: each entity fails (userName is required)."""
    rows = list(csv.reader(io.StringIO(export.decode("utf-8"))))
    email_at = rows[0].index("email")
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(
        [rows[0], *([*r[:email_at], "", *r[email_at + 1 :]] for r in rows[1:])]
    )
    return out.getvalue().encode("utf-8")


def use_export(prepared: Prepared, data: bytes) -> None:
    boto3.client("s3").put_object(Bucket=prepared.bucket, Key=prepared.key, Body=data)


def mails(stack: LocalStack) -> list[tuple[str, str]]:
    """(recipient, what the subject says happened) of every mail in the outbox, in order."""
    assert stack.outbox is not None
    out = []
    for path in stack.outbox.written:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        out.append((str(message["To"]), what_happened(str(message["Subject"]))))
    return out


def settled(stack: LocalStack, run: Run, subscribers: int) -> None:
    """Wait until the notifier has recorded its decisions on the run's final state for everyone."""
    deadline = time.monotonic() + 30
    while True:
        finished = [n for n in operations.run_notifications(run.run_id) if n.kind in {"finished_with_error", "success"}]
        # claimed: being sent; pending: a send failed and is retried
        if len(finished) >= subscribers and all(n.state not in {"claimed", "pending"} for n in finished):
            time.sleep(0.5)  # the outbox writer polls every 0.3 s
            return
        assert time.monotonic() < deadline, f"no decisions recorded for run {run.run_id}"
        time.sleep(0.2)


def five_runs(stack: LocalStack, notification: dict) -> tuple[Prepared, list[Run]]:
    prepared = prepare(
        stack,
        users=20,
        bad_rows=False,
        shard_size=10,
        notification=notification,
        retry={"retries": 0, "delay_seconds": 0},
    )
    operations.subscribe(prepared.job_id, AUDITOR, "records_updated")
    runs = []
    failing = every_row_failing(prepared.export.data)
    for export in (failing, failing, failing, prepared.export.data, prepared.export.data):
        use_export(prepared, export)
        run = wait_for_run(start(stack, prepared.job_id), stack=stack)
        settled(stack, run, subscribers=2)
        runs.append(run)
    assert [r.status for r in runs] == [RunStatus.FINISHED_WITH_ERRORS] * 3 + [RunStatus.SUCCEEDED] * 2
    assert all(r.totals()["failed"] == 20 for r in runs[:3])
    return prepared, runs


@pytest.mark.parametrize(
    ("notification", "expected"),
    [
        # default: a running-with-error per failed run, one finished-with-error, one success
        ({}, [RWE, FWE, RWE, RWE, SUCCESS]),
        # ignored_consecutive_failures 2: the third failed run is the one reported
        ({"ignored_consecutive_failures": 2}, [RWE, RWE, RWE, FWE, SUCCESS]),
        # repeat_on_failure: every failed run reported
        ({"repeat_on_failure": True}, [RWE, FWE, RWE, FWE, RWE, FWE, SUCCESS]),
        # skip intermediate: no running-with-error
        ({"skip_intermediate_notifications": True}, [FWE, SUCCESS]),
    ],
    ids=["default", "ignore-2", "repeat", "skip-intermediate"],
)
def test_fail_fail_fail_succeed_succeed_mails_match_the_truth_table(stack, notification, expected):
    _, runs = five_runs(stack, notification)

    sent = mails(stack)
    assert [subject for to, subject in sent if to == ADMIN] == expected
    # the records-updated subscriber hears only of the run that changed records: the first success
    assert [subject for to, subject in sent if to == AUDITOR] == [SUCCESS]
    # every decision is on the run, with its reason
    last = {(n.recipient, n.kind): n for n in operations.run_notifications(runs[4].run_id)}
    assert last[(ADMIN, "success")].state == "suppressed"
    assert last[(ADMIN, "success")].reason == "ordinary success after a success"
    assert last[(AUDITOR, "success")].reason == "trigger records_updated: no record created, updated or deleted"
    recovered = {(n.recipient, n.kind): n for n in operations.run_notifications(runs[3].run_id)}
    assert recovered[(AUDITOR, "success")].state == "sent"

    # Given every stream record of these runs delivered again three times, no mail is sent twice
    before = len(sent)
    stack.replay_streams(times=3)
    time.sleep(1.0)
    assert len(mails(stack)) == before


def test_one_mail_a_day_holds_the_rest_and_lists_them_in_the_next(stack):
    # Given a job capped at one mail a day per recipient, with repeat_on_failure (a mail per failed run)
    prepared, runs = five_runs(
        stack, {"repeat_on_failure": True, "max_one_mail_per_day": True, "skip_intermediate_notifications": True}
    )
    sent = [subject for to, subject in mails(stack) if to == ADMIN]
    # Then only the first failed run's mail went out; the others are held, each with the reason
    assert sent == [FWE]
    held = [n for r in runs[1:4] for n in operations.run_notifications(r.run_id) if n.recipient == ADMIN]
    assert {n.state for n in held if n.kind in {"finished_with_error", "success"}} == {"held"}
    assert all("one mail per 24 hours" in n.reason for n in held if n.state == "held")

    # When a day has passed (the cap's clock moved back 25 hours) and the next run (a resync) fails
    boto3.client("dynamodb").update_item(
        TableName=stack.resources.name("JobsTable"),
        Key={"pk": {"S": f"JOB#{runs[0].job_id}"}, "sk": {"S": f"CAP#{ADMIN}"}},
        UpdateExpression="SET last_sent_at = :t",
        ExpressionAttributeValues={":t": {"S": (datetime.now(UTC) - timedelta(hours=25)).isoformat()}},
    )
    use_export(prepared, every_row_failing(prepared.export.data))
    sixth = wait_for_run(start(stack, runs[0].job_id, run_type="resync"), stack=stack)
    settled(stack, sixth, subscribers=2)

    # Then its mail goes out and lists the three mails held since the first
    assert [subject for to, subject in mails(stack) if to == ADMIN] == [FWE, FWE]
    last = email.message_from_bytes(stack.outbox.written[-1].read_bytes(), policy=email.policy.default)
    text = last.get_body(preferencelist=("plain",)).get_content()
    assert "Held back by the one-mail-a-day limit since the last mail:" in text
    listed = [line for line in text.splitlines() if line.startswith("  - ") and "(run " in line]
    assert [line.split("(run ")[1].split(",")[0] for line in listed] == [r.run_id for r in runs[1:4]]
    # And the next one (within the day again) is held, listing nothing twice
    again = wait_for_run(start(stack, runs[0].job_id, run_type="resync"), stack=stack)
    settled(stack, again, subscribers=2)
    assert [subject for to, subject in mails(stack) if to == ADMIN] == [FWE, FWE]


def test_an_ses_throttle_is_retried_through_the_stream_and_the_mail_goes_once(stack, monkeypatch):
    # Given SES throttling the first two sends
    from botocore.exceptions import ClientError

    from syncjobs.store.errors import translate
    from syncjobs.store.mailer import Mailer

    original, failures = Mailer.send_raw, []

    def throttled(self, sender, recipients, message):
        if len(failures) < 2:
            error = ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "Send")
            failures.append(error)
            raise translate(error, "sending mail")
        return original(self, sender, recipients, message)

    monkeypatch.setattr(Mailer, "send_raw", throttled)
    prepared = prepare(stack, users=5, bad_rows=True, shard_size=10)

    # When a run finishes with errors
    run = wait_for_run(start(stack, prepared.job_id), stack=stack)
    settled(stack, run, subscribers=1)

    # Then the notifier failed its batch twice, was retried, and sent the mail once
    assert len(failures) == 2
    assert [subject for to, subject in mails(stack)] == [FWE]
    (note,) = [n for n in operations.run_notifications(run.run_id) if n.kind == "finished_with_error"]
    assert note.state == "sent"
    assert note.message_id
