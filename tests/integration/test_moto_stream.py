"""The local stream pollers read the jobs table's stream from moto's backend in-process (MotoStream):
they see what GetRecords would return, in order, once (a cancelled transaction: test_local_streams.py)."""

from __future__ import annotations

import boto3

from syncjobs_local.pollers import MotoStream


def _keys(records: list[dict]) -> list[str]:
    return [r["dynamodb"]["Keys"]["pk"]["S"] for r in records]


def test_a_reader_sees_each_later_write_once_in_order_with_both_images(aws) -> None:
    # Given a reader at the end of the jobs table's stream
    table = aws.resources.name("JobsTable")
    ddb = boto3.client("dynamodb")
    ddb.put_item(TableName=table, Item={"pk": {"S": "before"}, "sk": {"S": "X"}})
    stream = MotoStream(aws.resources.attr("JobsTable", "StreamArn"), "LATEST")

    # When an item is written, then changed
    ddb.put_item(TableName=table, Item={"pk": {"S": "A"}, "sk": {"S": "X"}, "n": {"N": "1"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "A"}, "sk": {"S": "X"}, "n": {"N": "2"}})

    # Then it reads both records, in order, with the images a NEW_AND_OLD_IMAGES stream carries; then none
    first, second = stream.read(limit=1000)
    assert _keys([first, second]) == ["A", "A"]
    assert (first["eventName"], second["eventName"]) == ("INSERT", "MODIFY")
    assert second["dynamodb"]["OldImage"]["n"] == {"N": "1"}
    assert second["dynamodb"]["NewImage"]["n"] == {"N": "2"}
    assert stream.read(limit=1000) == []


def test_a_trim_horizon_reader_reads_everything_once_a_batch_at_a_time(aws) -> None:
    # Given three writes to the jobs table
    table = aws.resources.name("JobsTable")
    arn = aws.resources.attr("JobsTable", "StreamArn")
    ddb = boto3.client("dynamodb")
    for key in ("A", "B", "C"):
        ddb.put_item(TableName=table, Item={"pk": {"S": key}, "sk": {"S": "X"}})

    # When a reader from the trim horizon reads two records at a time until there are none
    stream = MotoStream(arn, "TRIM_HORIZON")
    batches = []
    while batch := stream.read(limit=2):
        batches.append(batch)

    # Then it has read every record once, in order, as one read of everything does
    assert all(len(b) <= 2 for b in batches)
    read = [r for b in batches for r in b]
    assert _keys(read) == _keys(MotoStream(arn, "TRIM_HORIZON").read(limit=10_000))
    assert _keys(read)[-3:] == ["A", "B", "C"]
    assert len({r["dynamodb"]["SequenceNumber"] for r in read}) == len(read)
