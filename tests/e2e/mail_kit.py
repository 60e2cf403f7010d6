"""What the mail tests share: SES refusing on demand, the MailRetry schedule's event, the outbox."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from syncjobs.admin import operations
from syncjobs.store.errors import translate
from syncjobs.store.mailer import Mailer
from syncjobs.store.notifications import NotificationRecord
from syncjobs_local.stack import LocalStack


class Ses:
    """SES (moto) that refuses the next `refusals` sends with the throttling error, then recovers."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.refused = 0
        self.sent = 0
        self._send = Mailer.send_raw

    def send_raw(self, mailer: Mailer, sender: str, recipients: Sequence[str], message: bytes) -> Any:
        if self.refused < self.refusals:
            self.refused += 1
            error = ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "Send")
            raise translate(error, "sending mail")
        answer = self._send(mailer, sender, recipients, message)
        self.sent += 1
        return answer


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


def what_happened(subject: str) -> str:
    """A subject's last part: "[syncjobs] JOB (SOURCE → TARGET): Finished with Error" -> "Finished with Error"."""
    return subject.rsplit("): ", 1)[-1]


def sent_subjects(stack: LocalStack) -> list[str]:
    """What each mail in the outbox says happened (its subject's last part), in order."""
    assert stack.outbox is not None
    return [
        what_happened(str(email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["Subject"]))
        for p in stack.outbox.written
    ]


def state_of(run_id: str) -> str | None:
    """The state of the run's finished-with-error mail, None before the notifier recorded it."""
    found = [n for n in operations.run_notifications(run_id) if n.kind == "finished_with_error"]
    return found[0].state if found else None


def note(run_id: str) -> NotificationRecord:
    (found,) = [n for n in operations.run_notifications(run_id) if n.kind == "finished_with_error"]
    return found


def failure_queue_depth(stack: LocalStack) -> int:
    assert stack.resources is not None
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=stack.resources.name("NotifyFailureQueue"), AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])
