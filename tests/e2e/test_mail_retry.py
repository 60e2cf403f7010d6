"""SES refusing for longer than the stream's retries: the mail is kept and sent by the scheduled
retry once SES recovers, exactly once, whatever the stream or the retry delivers again."""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from syncjobs.admin import operations
from syncjobs.store.errors import translate
from syncjobs.store.mailer import Mailer
from syncjobs.store.notifications import NotificationRecord
from syncjobs_local.demo import prepare, start, wait_for_run
from syncjobs_local.stack import LocalStack

pytestmark = pytest.mark.e2e

FWE = "Provisioning Finished with Error"


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.2)


def scheduled(at: datetime) -> dict:
    """The event the MailRetry schedule delivers (EventBridge's Scheduled Event, no Input)."""
    return {
        "version": "0",
        "id": f"mail-retry-{at:%Y%m%dT%H%M}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "detail": {},
    }


def sent_subjects(stack: LocalStack) -> list[str]:
    assert stack.outbox is not None
    return [
        str(email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["Subject"]).split(". Source")[0]
        for p in stack.outbox.written
    ]


def note(run_id: str) -> NotificationRecord:
    (found,) = [n for n in operations.run_notifications(run_id) if n.kind == "finished_with_error"]
    return found


def failure_queue_depth(stack: LocalStack) -> int:
    assert stack.resources is not None
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=stack.resources.name("NotifyFailureQueue"), AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_ses_refusing_for_two_hours_then_the_mail_goes_exactly_once(stack, monkeypatch):
    # Given SES refusing every send
    original, refused = Mailer.send_raw, []
    refusing = True

    def ses(self, sender, recipients, message):
        if refusing:
            refused.append(recipients)
            error = ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "Send")
            raise translate(error, "sending mail")
        return original(self, sender, recipients, message)

    monkeypatch.setattr(Mailer, "send_raw", ses)
    prepared = prepare(stack, users=5, bad_rows=True, shard_size=10)

    # When a run finishes with errors and every send through the stream's retries fails
    run = wait_for_run(start(stack, prepared.job_id))
    wait_until(lambda: failure_queue_depth(stack) >= 1, "the stream record was dropped after its retries")
    kept = note(run.run_id)
    assert kept.state == "pending"
    stream_attempts = len(refused)
    assert stream_attempts >= 2

    # And the scheduled retry runs every 15 minutes for 2 hours while SES still refuses
    t0 = datetime.fromisoformat(kept.at)
    for k in range(1, 9):
        tally = stack.invoke("NotifyFunction", scheduled(t0 + timedelta(minutes=15 * k)))
        assert tally["failed"] == 1, tally
    assert len(refused) == stream_attempts + 8
    assert note(run.run_id).state == "pending"
    assert sent_subjects(stack) == []

    # When SES recovers, the next retry sends the mail
    refusing = False
    tally = stack.invoke("NotifyFunction", scheduled(t0 + timedelta(minutes=135)))
    assert tally["sent"] == 1, tally
    wait_until(lambda: len(sent_subjects(stack)) >= 1, "the mail reached the outbox")

    # Then later retries and the stream delivering everything again send nothing more
    assert stack.invoke("NotifyFunction", scheduled(t0 + timedelta(minutes=150)))["sent"] == 0
    stack.replay_streams(times=2)
    time.sleep(0.5)  # the outbox writer polls every 0.3 s: a second mail would show by now
    assert sent_subjects(stack) == [FWE]
    sent = note(run.run_id)
    assert sent.state == "sent"
    assert sent.message_id
