"""The local stand-in's Lambda event shapes and FilterCriteria, checked against the template's filters."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syncjobs_local.cfn import load_template
from syncjobs_local.lambda_events import FilterCriteria, UnsupportedPattern, matches, sqs_event, stream_record

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def notify_filter() -> FilterCriteria:
    props = load_template(TEMPLATE)["Resources"]["NotifyFunction"]["Properties"]
    return FilterCriteria.from_template(props["Events"]["RunChanges"]["Properties"]["FilterCriteria"])


def image(**attrs):
    return {"dynamodb": {"NewImage": {k: {"S": v} for k, v in attrs.items()}}}


@pytest.mark.parametrize(
    ("record", "accepted"),
    [
        (image(item_type="run", status="finished_with_errors"), True),
        (image(item_type="run", status="succeeded"), True),
        (image(item_type="run", status="running"), False),
        (image(item_type="run", status="running", first_failure_at="2026-01-01"), True),
        (image(item_type="run", status="queued"), False),
        (image(item_type="run", status="skipped"), False),
        (image(item_type="notification", status="succeeded"), False),
        (image(item_type="job"), False),
    ],
)
def test_the_template_filter_passes_only_run_changes_that_can_notify(record, accepted):
    assert notify_filter().accepts(record) is accepted


def test_unsupported_operators_are_refused_rather_than_ignored():
    with pytest.raises(UnsupportedPattern):
        matches({"a": [{"numeric": [">", 1]}]}, {"a": 2})


def test_sqs_messages_become_the_lambda_event_shape():
    event = sqs_event(
        [
            {
                "MessageId": "m1",
                "ReceiptHandle": "h",
                "Body": "{}",
                "MD5OfBody": "x",
                "Attributes": {"ApproximateReceiveCount": "2"},
            }
        ],
        "arn:aws:sqs:us-east-1:1:q",
        "us-east-1",
    )
    record = event["Records"][0]
    assert record["messageId"] == "m1"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:1:q"
    assert record["attributes"]["ApproximateReceiveCount"] == "2"
    assert record["eventSource"] == "aws:sqs"


def test_stream_records_get_an_arn_and_epoch_seconds():
    raw = {
        "eventName": "MODIFY",
        "dynamodb": {"ApproximateCreationDateTime": datetime(2026, 1, 1, tzinfo=UTC), "SequenceNumber": "1"},
    }
    record = stream_record(raw, "arn:stream", "eu-west-1")
    assert record["dynamodb"]["ApproximateCreationDateTime"] == 1767225600
    assert record["eventSourceARN"] == "arn:stream"
    json.dumps(record)
