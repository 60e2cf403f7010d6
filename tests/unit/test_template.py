"""What template.yaml promises about security and delivery, read from the template itself."""

from datetime import UTC, datetime
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
        "StartRunFailedFunction",
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


def test_a_failed_async_start_run_goes_to_a_function_that_records_it_as_a_failed_run():
    config = R["StartRunFunction"]["Properties"]["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 2
    assert config["DestinationConfig"]["OnFailure"] == {
        "Type": "Lambda",
        "Destination": {"Fn::GetAtt": ["StartRunFailedFunction", "Arn"]},
    }


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


NO_VALUE = {"Ref": "AWS::NoValue"}


def statements_of(function: str) -> list[dict]:
    """The inline statements of a function's policies, both branches of a conditional one."""
    found = []
    for policy in FUNCTIONS[function]["Properties"].get("Policies", []):
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            if "Fn::If" in statement:
                found += [branch for branch in statement["Fn::If"][1:] if branch != NO_VALUE]
            else:
                found.append(statement)
    return found


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_no_function_is_granted_wildcard_actions(name):
    for statement in statements_of(name):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions), (name, actions)
        assert statement.get("Resource") not in ("*", ["*"]), name


def test_the_shard_queue_redrives_to_a_dead_letter_queue_and_reports_item_failures():
    queue = R["ShardQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["ShardDeadLetterQueue", "Arn"]}
    event = R["RunShardFunction"]["Properties"]["Events"]["Shards"]["Properties"]
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert queue["VisibilityTimeout"] >= 6 * R["RunShardFunction"]["Properties"]["Timeout"]


def test_run_shard_reads_the_shard_dead_letter_queue_and_knows_the_receive_count():
    # a dead-lettered shard is counted as dead, so that its run ends; its reason quotes the receive count
    shard_fn = R["RunShardFunction"]["Properties"]
    dead = shard_fn["Events"]["DeadShards"]["Properties"]
    assert dead["Queue"] == {"Fn::GetAtt": ["ShardDeadLetterQueue", "Arn"]}
    assert dead["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    env = shard_fn["Environment"]["Variables"]
    assert env["SHARD_DEAD_LETTER_QUEUE_ARN"] == {"Fn::GetAtt": ["ShardDeadLetterQueue", "Arn"]}
    assert int(env["SHARD_MAX_RECEIVES"]) == R["ShardQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]


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


def test_mail_links_are_signed_tokens_served_by_a_public_function_that_reads_decides_and_unsubscribes():
    links = FUNCTIONS["LinksFunction"]["Properties"]
    assert links["FunctionUrlConfig"]["AuthType"] == "NONE"  # the signed token is the authorisation
    statements = [s for s in statements_of("LinksFunction") if s["Resource"] != {"Ref": "DataKmsKeyArn"}]
    assert sorted(a for s in statements for a in s["Action"]) == [
        "dynamodb:DeleteItem",  # a subscriber's unsubscribe link removes that one subscription
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


ALARMS = {k: v["Properties"] for k, v in R.items() if v["Type"] == "AWS::CloudWatch::Alarm"}


def _dead_letter_queues() -> set[str]:
    """Every queue something dead-letters into: a redrive target, a stream's on-failure destination or
    the schedules' dead-letter queue."""
    queues = {"ScheduleDeadLetterQueue"}
    for resource in R.values():
        redrive = resource.get("Properties", {}).get("RedrivePolicy", {})
        if "deadLetterTargetArn" in redrive:
            queues.add(redrive["deadLetterTargetArn"]["Fn::GetAtt"][0])
    for fn in FUNCTIONS.values():
        for event in fn["Properties"].get("Events", {}).values():
            on_failure = event.get("Properties", {}).get("DestinationConfig", {}).get("OnFailure", {})
            if on_failure.get("Type") == "SQS":
                queues.add(on_failure["Destination"]["Fn::GetAtt"][0])
    return queues


@pytest.mark.parametrize("queue", sorted(_dead_letter_queues()))
def test_every_dead_letter_queue_has_an_alarm_on_its_depth(queue):
    on_queue = [
        a
        for a in ALARMS.values()
        if a["Namespace"] == "AWS/SQS"
        and a["MetricName"] == "ApproximateNumberOfMessagesVisible"
        and a["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    ]
    assert on_queue, f"no alarm on the depth of {queue}"
    for alarm in on_queue:
        assert alarm["Threshold"] == 0
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_failed_runs_runs_ended_by_the_sweep_and_mail_failures_have_alarms_on_the_metrics_the_code_emits():
    from syncjobs.engine.run_metrics import run_metrics
    from syncjobs.models.run import RunStatus

    now = datetime.now(UTC)
    emitted = {m.name for m in run_metrics(RunStatus.FAILED, {}, now, now)}
    code = "".join(p.read_text() for p in (ROOT / "layers" / "core" / "syncjobs" / "workflows").glob("*.py"))
    emitted |= {name for name in ("RunsEndedBySweep", "MailsNotSent", "MailsGivenUp") if f'name="{name}"' in code}
    ours = {a["MetricName"]: a for a in ALARMS.values() if a["Namespace"] == "syncjobs"}
    assert set(ours) == {"RunsFailed", "RunsEndedBySweep", "MailsNotSent", "MailsGivenUp"}
    assert set(ours) <= emitted
    for alarm in ours.values():
        # Powertools Metrics(service="syncjobs") adds the service dimension to every metric
        assert alarm["Dimensions"] == [{"Name": "service", "Value": "syncjobs"}]
        assert alarm["Statistic"] == "Sum"


def test_every_alarm_goes_to_the_encrypted_alarm_topic_with_an_optional_mail_subscription():
    assert ALARMS
    for name, alarm in ALARMS.items():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["TreatMissingData"] == "notBreaching", name
    topic = R["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": ["AlarmKey", "Arn"]}
    key_policy = R["AlarmKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert any(s["Principal"] == {"Service": "cloudwatch.amazonaws.com"} for s in key_policy)
    subscription = R["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert T["Parameters"]["AlarmEmail"]["Default"] == ""


def test_kept_mail_is_retried_on_a_schedule_and_stalled_runs_are_swept_after_stall_minutes():
    notify_events = FUNCTIONS["NotifyFunction"]["Properties"]["Events"]
    assert notify_events["MailRetry"]["Properties"]["Schedule"] == "rate(15 minutes)"
    assert "Input" not in notify_events["MailRetry"]["Properties"]  # the handler reads the event's time
    advance = FUNCTIONS["AdvanceFunction"]["Properties"]
    assert advance["Environment"]["Variables"]["STALL_MINUTES"] == {"Ref": "StallMinutes"}
    assert T["Parameters"]["StallMinutes"]["Default"] == 30


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_each_function_may_use_the_data_key_only_when_one_is_given(name):
    # Given DataKmsKeyArn (the tables, logs and link key under the admin's key), each function that
    # reads or writes them is granted that key's use, on that key only; without it, no KMS grant at all
    conditional = [
        s["Fn::If"]
        for p in FUNCTIONS[name]["Properties"]["Policies"]
        if isinstance(p, dict)
        for s in p.get("Statement", [])
        if "Fn::If" in s
    ]
    assert [(c[0], c[2]) for c in conditional] == [("HasDataKey", NO_VALUE)]
    granted = conditional[0][1]
    assert granted["Resource"] == {"Ref": "DataKmsKeyArn"}
    assert set(granted["Action"]) == {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"}


def test_the_data_key_encrypts_the_state_the_logs_and_the_link_key_when_given():
    key = {"Fn::If": ["HasDataKey", {"Ref": "DataKmsKeyArn"}, NO_VALUE]}
    for table in ("JobsTable", "EntityStateTable"):
        assert R[table]["Properties"]["SSESpecification"]["KMSMasterKeyId"] == key
    default = R["LogBucket"]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert default["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == key
    assert R["LinkSigningKey"]["Properties"]["KmsKeyId"] == key


@pytest.mark.parametrize("name", ["JobsTable", "EntityStateTable", "LogBucket"])
def test_the_data_outlives_a_replacement_or_a_stack_delete(name):
    assert R[name]["DeletionPolicy"] == "Retain"
    assert R[name]["UpdateReplacePolicy"] == "Retain"


def test_the_admin_api_is_throttled_and_access_logged_without_bodies():
    api = R["AdminApi"]["Properties"]
    (setting,) = api["MethodSettings"]
    assert setting["ThrottlingRateLimit"] == {"Ref": "AdminApiRateLimit"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "AdminApiRateLimit"}
    log = api["AccessLogSetting"]
    assert log["DestinationArn"] == {"Fn::GetAtt": ["AdminApiAccessLogGroup", "Arn"]}
    assert "$context.requestId" in log["Format"]
    assert "body" not in log["Format"].lower()
    assert "querystring" not in log["Format"].lower()


def test_the_public_links_function_is_capped():
    capped = FUNCTIONS["LinksFunction"]["Properties"]["ReservedConcurrentExecutions"]
    assert capped == {"Fn::If": ["ReservesLinks", {"Ref": "LinksReservedConcurrency"}, NO_VALUE]}
    assert T["Parameters"]["LinksReservedConcurrency"]["Default"] > 0


def test_approvers_are_callers_holding_the_permission_the_template_names():
    # the admin policy allows every route but denies the decisions; the approver policy allows exactly them
    decisions = {
        "${AdminApi}/prod/POST/approvals/*/approve",
        "${AdminApi}/prod/POST/approvals/*/reject",
    }

    def routes(statement: dict) -> set[str]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        return {r["Fn::Sub"].split(":")[-1] for r in resources}

    admin = R["AdminCallerPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert [(s["Effect"], routes(s)) for s in admin] == [("Allow", {"${AdminApi}/prod/*"}), ("Deny", decisions)]
    (approver,) = R["ApproverCallerPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert routes(approver) == decisions | {"${AdminApi}/prod/GET/approvals*"}


def test_scheduler_runs_schedules_as_a_role_that_may_start_runs_and_dead_letter_only():
    role = R["SchedulerRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert (trust["Principal"], trust["Action"]) == ({"Service": "scheduler.amazonaws.com"}, "sts:AssumeRole")
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    (policy,) = role["Policies"]
    grants = [(s["Action"], s["Resource"]) for s in policy["PolicyDocument"]["Statement"]]
    assert grants == [
        ("lambda:InvokeFunction", {"Fn::GetAtt": ["StartRunFunction", "Arn"]}),
        ("sqs:SendMessage", {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}),
    ]
    assert "ManagedPolicyArns" not in role


def test_the_admin_api_may_pass_the_scheduler_role_to_scheduler_and_touch_its_groups_schedules_only():
    env = FUNCTIONS["AdminApiFunction"]["Properties"]["Environment"]["Variables"]
    assert env["SCHEDULE_GROUP"] == {"Ref": "ScheduleGroup"}
    assert env["SCHEDULER_ROLE_ARN"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    assert env["SCHEDULE_DEAD_LETTER_QUEUE_ARN"] == {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}
    statements = [
        s
        for p in FUNCTIONS["AdminApiFunction"]["Properties"]["Policies"]
        if "Statement" in p
        for s in p["Statement"]
        if isinstance(s, dict) and "Action" in s
    ]
    (passing,) = [s for s in statements if "iam:PassRole" in s["Action"]]
    assert passing["Resource"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    (scheduling,) = [s for s in statements if any(a.startswith("scheduler:") for a in s["Action"])]
    assert sorted(scheduling["Action"]) == [
        "scheduler:CreateSchedule",
        "scheduler:DeleteSchedule",
        "scheduler:GetSchedule",
        "scheduler:UpdateSchedule",
    ]
    schedules = "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${ScheduleGroup}/syncjobs-*"
    assert scheduling["Resource"] == {"Fn::Sub": schedules}
