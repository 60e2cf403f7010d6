"""What template.yaml promises about security and delivery, read from the template itself."""

from pathlib import Path

import pytest

from syncjobs_local.cfn import load_template

ROOT = Path(__file__).resolve().parents[2]
T = load_template(ROOT / "template.yaml")
R = T["Resources"]
FUNCTIONS = {k: v for k, v in R.items() if v["Type"] == "AWS::Serverless::Function"}


def test_functions_run_python311_on_arm64_with_their_own_log_group():
    assert T["Globals"]["Function"]["Runtime"] == "python3.11"
    assert T["Globals"]["Function"]["Architectures"] == ["arm64"]
    assert set(FUNCTIONS) == {
        "StartRunFunction",
        "RunShardFunction",
        "NotifyFunction",
        "AdminApiFunction",
        "LinksFunction",
        "AdvanceFunction",
    }
    for name, fn in FUNCTIONS.items():
        group = fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert R[group]["Type"] == "AWS::Logs::LogGroup", name
        assert R[group]["Properties"]["RetentionInDays"] == {"Ref": "FunctionLogRetentionDays"}


def test_the_core_layer_is_built_by_sam():
    assert R["CoreLayer"]["Metadata"]["BuildMethod"] == "python3.11"
    assert not (ROOT / "layers" / "core" / "python").exists()


def test_the_log_bucket_is_private_encrypted_tls_only_and_expires_logs():
    bucket = R["LogBucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    rule = bucket["LifecycleConfiguration"]["Rules"][0]
    assert rule["ExpirationInDays"] == {"Ref": "LogRetentionDays"}
    assert T["Parameters"]["LogRetentionDays"]["AllowedValues"] == [7, 14, 30]
    statement = R["LogBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Effect"] == "Deny"
    assert statement["Action"] == "s3:*"
    assert statement["Principal"] == "*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [{"Fn::GetAtt": ["LogBucket", "Arn"]}, {"Fn::Sub": "${LogBucket.Arn}/*"}]


def test_link_lifetime_is_bounded_by_the_longest_log_retention():
    # Mail links are tokens that presign on click (5 minutes), so temporary credentials do not bound
    # them; the logs' retention does (syncjobs.workflows.download_links caps each link at it).
    longest = max(T["Parameters"]["LogRetentionDays"]["AllowedValues"])
    assert T["Parameters"]["LinkLifetimeSeconds"]["MaxValue"] <= longest * 86400


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_no_function_is_granted_wildcard_actions(name):
    for policy in FUNCTIONS[name]["Properties"].get("Policies", []):
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in action for action in actions), (name, actions)
            assert statement.get("Resource") not in ("*", ["*"]), name


def test_the_shard_queue_redrives_to_a_dead_letter_queue_and_reports_item_failures():
    queue = R["ShardQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["ShardDeadLetterQueue", "Arn"]}
    event = R["RunShardFunction"]["Properties"]["Events"]["Shards"]["Properties"]
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert queue["VisibilityTimeout"] >= 6 * R["RunShardFunction"]["Properties"]["Timeout"]


@pytest.mark.parametrize(("function", "event_name"), [("NotifyFunction", "RunChanges"), ("AdvanceFunction", "Ended")])
def test_the_stream_consumers_are_filtered_bisected_retried_and_have_a_failure_destination(function, event_name):
    table = R["JobsTable"]["Properties"]
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert table["TimeToLiveSpecification"]["Enabled"] is True
    event = R[function]["Properties"]["Events"][event_name]["Properties"]
    assert event["Stream"] == {"Fn::GetAtt": ["JobsTable", "StreamArn"]}
    assert event["BisectBatchOnFunctionError"] is True
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["MaximumRetryAttempts"] >= 1
    assert event["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["NotifyFailureQueue", "Arn"]}
    assert event["FilterCriteria"]["Filters"]


def test_the_sender_is_a_parameter():
    assert "SenderEmail" in T["Parameters"]
    assert T["Globals"]["Function"]["Environment"]["Variables"]["SENDER_EMAIL"] == {"Ref": "SenderEmail"}


def test_mail_links_are_signed_tokens_served_by_a_public_function_that_reads_and_records_decisions():
    links = FUNCTIONS["LinksFunction"]["Properties"]
    assert links["FunctionUrlConfig"]["AuthType"] == "NONE"  # the signed token is the authorisation
    statements = [s for p in links["Policies"] for s in p["Statement"]]
    assert sorted(a for s in statements for a in s["Action"]) == [
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",  # an approver's decision, conditional on the request's status
        "s3:GetObject",
        "s3:ListBucket",  # so a log gone with the retention is a 404 (the link says so), not AccessDenied
        "secretsmanager:GetSecretValue",
    ]
    assert R["LinkSigningKey"]["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    notify = FUNCTIONS["NotifyFunction"]["Properties"]["Environment"]["Variables"]
    assert notify["LINKS_BASE_URL"] == {"Fn::GetAtt": ["LinksFunctionUrl", "FunctionUrl"]}
