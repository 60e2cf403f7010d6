"""Kept mail is tried for 24 hours after its first send, then given up: logged, counted (MailsGivenUp),
recorded, and never sent later by the retry or a redelivered stream record."""

from __future__ import annotations

from datetime import datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from syncjobs.admin import operations
from syncjobs.store import codec
from syncjobs.store.errors import translate
from syncjobs.store.mailer import Mailer
from syncjobs.store.runs import run_key
from syncjobs.workflows import notify_retry
from syncjobs.workflows.notify_retry import retry_pending
from syncjobs.workflows.notify_run import MailNotSent, notify_run_change
from syncjobs_local.demo import prepare
from tests.integration.test_stall_sweep import run_one_shard, start


def run_item(aws, run_id: str) -> dict:
    item = boto3.client("dynamodb").get_item(TableName=aws.resources.name("JobsTable"), Key=run_key(run_id))["Item"]
    return codec.load_item(item)


def test_a_mail_unsendable_for_24_hours_is_given_up_once(aws, monkeypatch):
    # Given a finished run and SES refusing every send
    sends = []

    def refusing(self, sender, recipients, message):
        sends.append(recipients)
        raise translate(ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "Send"), "sending")

    monkeypatch.setattr(Mailer, "send_raw", refusing)
    counted = []
    monkeypatch.setattr(notify_retry.metrics, "add_metric", lambda **kw: counted.append(kw["name"]))
    prepared = prepare(aws, users=5, bad_rows=True, shard_size=10)
    run_id = start(aws, prepared.job_id)
    run_one_shard(aws)
    final = run_item(aws, run_id)
    assert final["status"] == "finished_with_errors"

    # When the notifier's send fails (the stream's retries would fail the same way)
    with pytest.raises(MailNotSent):
        notify_run_change(None, final)
    (kept,) = [n for n in operations.run_notifications(run_id) if n.kind == "finished_with_error"]
    assert kept.state == "pending"
    since = datetime.fromisoformat(kept.at)

    # Then the retry tries it while it is younger than 24 hours
    assert retry_pending(since + timedelta(hours=23, minutes=59))["failed"] == 1
    assert len(sends) == 2
    # and gives it up after, once
    assert retry_pending(since + timedelta(hours=24, minutes=1))["given_up"] == 1
    assert retry_pending(since + timedelta(hours=24, minutes=16)) == {"sent": 0, "failed": 0, "given_up": 0, "busy": 0}
    assert counted.count("MailsGivenUp") == 1
    assert counted.count("MailsNotSent") == 2
    (given_up,) = [n for n in operations.run_notifications(run_id) if n.kind == "finished_with_error"]
    assert given_up.state == "given_up"
    assert len(sends) == 2

    # And a stream record delivered again once SES works sends nothing
    monkeypatch.undo()
    assert notify_run_change(None, final)
    assert [n.state for n in operations.run_notifications(run_id) if n.kind == "finished_with_error"] == ["given_up"]
    assert boto3.client("sesv2").list_email_identities()  # SES itself was never reached
