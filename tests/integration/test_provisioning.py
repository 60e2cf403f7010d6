"""The local AWS gets the template's resources, built from template.yaml (not from a second list)."""

import contextlib

import boto3

from syncjobs_local.cfn import load_template
from syncjobs_local.provision import TEMPLATE


def test_tables_have_the_template_keys_streams_and_ttl(aws):
    template = load_template(TEMPLATE)["Resources"]
    ddb = boto3.client("dynamodb")
    for logical_id in ("JobsTable", "EntityStateTable"):
        name = aws.resources.name(logical_id)
        table = ddb.describe_table(TableName=name)["Table"]
        assert table["KeySchema"] == template[logical_id]["Properties"]["KeySchema"]
        assert ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]["AttributeName"] == "expires_at"
    jobs = ddb.describe_table(TableName=aws.resources.name("JobsTable"))["Table"]
    assert jobs["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert [i["IndexName"] for i in jobs["GlobalSecondaryIndexes"]] == ["gsi1"]
    state = ddb.describe_table(TableName=aws.resources.name("EntityStateTable"))["Table"]
    assert [i["IndexName"] for i in state["GlobalSecondaryIndexes"]] == ["by_target"]


def test_the_shard_queue_redrives_to_its_dead_letter_queue(aws):
    sqs = boto3.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=aws.resources.name("ShardQueue"), AttributeNames=["All"])
    assert '"maxReceiveCount": 5' in attributes["Attributes"]["RedrivePolicy"]
    assert aws.resources.attr("ShardDeadLetterQueue", "Arn") in attributes["Attributes"]["RedrivePolicy"]
    assert attributes["Attributes"]["VisibilityTimeout"] == "360"


def test_the_log_bucket_is_encrypted_private_and_expires_logs(aws):
    s3 = boto3.client("s3")
    bucket = aws.resources.name("LogBucket")
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]
    assert lifecycle["Expiration"] == {"Days": 7}
    assert lifecycle["Filter"] == {"Prefix": "runs/"}


def test_functions_get_the_template_environment(aws):
    env = aws.resources.functions["RunShardFunction"].environment
    assert env["JOBS_TABLE"] == aws.resources.name("JobsTable")
    assert env["SHARD_QUEUE_URL"].endswith("shardqueue")
    assert env["SENDER_EMAIL"] == "syncjobs@example.com"


def test_a_cancelled_transaction_never_loses_a_concurrent_write(aws):
    """moto restores whole tables after a cancelled transaction; the local stack must not lose writes."""
    from concurrent.futures import ThreadPoolExecutor

    ddb = boto3.client("dynamodb")
    table = aws.resources.name("JobsTable")

    def put(i: int) -> None:
        ddb.put_item(TableName=table, Item={"pk": {"S": f"P#{i}"}, "sk": {"S": "x"}})

    def cancelled(i: int) -> None:
        with contextlib.suppress(ddb.exceptions.TransactionCanceledException):
            ddb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": table,
                            "Item": {"pk": {"S": f"T#{i}"}, "sk": {"S": "x"}},
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    }
                ]
            )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: (put if i % 2 else cancelled)(i), range(200)))
    assert ddb.scan(TableName=table, Select="COUNT")["Count"] == 100
