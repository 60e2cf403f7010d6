"""SES refusing for longer than the stream's retries: the mail is kept and sent by the scheduled
retry once SES recovers, exactly once, whatever the stream or the retry delivers again."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from syncjobs.store.errors import translate
from syncjobs.store.mailer import Mailer
from syncjobs_local.demo import prepare, start, wait_for_run
from tests.e2e.helpers import outbox_settled, wait_until
from tests.e2e.mail_kit import failure_queue_depth, note, scheduled, sent_subjects

pytestmark = pytest.mark.e2e

FWE = "Finished with Error"


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
    outbox_settled(stack)
    assert sent_subjects(stack) == [FWE]
    sent = note(run.run_id)
    assert sent.state == "sent"
    assert sent.message_id
