"""The local AWS's DynamoDB stream behaves as DynamoDB's does around a cancelled transaction: no record
of the cancelled writes, and a reader already reading the stream goes on seeing later writes (through
the API, and in-process as the local stream pollers read it)."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from syncjobs_local.pollers import MotoStream


def test_a_cancelled_transaction_leaves_no_record_and_readers_keep_reading(aws) -> None:
    # Given a reader at the end of the jobs table's stream
    table = aws.resources.name("JobsTable")
    arn = aws.resources.attr("JobsTable", "StreamArn")
    ddb, streams = boto3.client("dynamodb"), boto3.client("dynamodbstreams")
    in_process = MotoStream(arn, "LATEST")
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST")[
        "ShardIterator"
    ]
    ddb.put_item(TableName=table, Item={"pk": {"S": "A"}, "sk": {"S": "X"}})
    out = streams.get_records(ShardIterator=iterator)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in out["Records"]] == ["A"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in in_process.read(limit=1000)] == ["A"]
    iterator = out["NextShardIterator"]

    # When a transaction writes one item and is cancelled on its second
    with pytest.raises(ClientError) as cancelled:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "B"}, "sk": {"S": "X"}}}},
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"pk": {"S": "A"}, "sk": {"S": "X"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    ddb.put_item(TableName=table, Item={"pk": {"S": "C"}, "sk": {"S": "X"}})

    # Then the reader sees the later write and nothing of the cancelled one
    out = streams.get_records(ShardIterator=iterator)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in out["Records"]] == ["C"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in in_process.read(limit=1000)] == ["C"]
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "B"}, "sk": {"S": "X"}})
