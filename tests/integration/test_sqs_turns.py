"""The local SQS pollers of one queue take turns at listening (pollers.ListeningTurn): one idle poller
long-polls instead of all of them, and a burst still reaches as many concurrent invocations as there
are pollers."""

from __future__ import annotations

import threading
from typing import Any

import boto3

from syncjobs_local.pollers import ListeningTurn, SqsPoller
from tests.e2e.helpers import wait_until


def test_a_poller_without_the_turn_sends_no_receive(aws) -> None:
    # Given a turn another poller holds
    turn = ListeningTurn()
    assert turn.take(wait_s=0)
    calls: list[str] = []
    poller = SqsPoller("q-1", "url", "arn", lambda event: None, 1, "us-east-1", turn=turn)
    poller._sqs = type("Sqs", (), {"receive_message": lambda self, **kw: calls.append("receive") or {}})()

    # When it ticks, then ticks again once the turn is handed on
    waited = poller.tick()
    turn.hand_on()
    listened = poller.tick()

    # Then it asked SQS nothing while the other listened, and once after
    assert waited is True
    assert listened is False  # nothing received
    assert calls == ["receive"]
    assert turn.take(wait_s=0)  # and it handed the turn on again


def test_a_burst_reaches_every_poller_at_once(aws) -> None:
    # Given three pollers of one queue sharing a turn, whose handler returns only once all three run
    sqs: Any = boto3.client("sqs")
    url = sqs.create_queue(QueueName="turns")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    together = threading.Barrier(3, timeout=30)
    handled: list[str] = []

    def invoke(event: dict[str, Any]) -> None:
        together.wait()
        handled.extend(r["body"] for r in event["Records"])

    turn = ListeningTurn()
    pollers = [SqsPoller(f"turns-{i}", url, arn, invoke, 1, "us-east-1", turn=turn) for i in range(3)]
    for poller in pollers:
        poller.start()
    try:
        # When three messages arrive
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)])

        # Then each is handled, the three invocations having run at once (else the barrier breaks)
        wait_until(lambda: len(handled) == 3, "the three messages are handled")
    finally:
        for poller in pollers:
            poller.stop()
        for poller in pollers:
            poller.join(timeout=10)
    assert sorted(handled) == ["m0", "m1", "m2"]
    assert [e for p in pollers for e in p.errors] == []
