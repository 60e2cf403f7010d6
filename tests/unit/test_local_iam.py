"""The local IAM check, pure: which action on which resource a call needs, and how a policy judges it."""

from __future__ import annotations

import pytest

from syncjobs_local.iam_actions import Check, checks
from syncjobs_local.iam_policy import allowed

REGION, ACCOUNT = "us-east-1", "123456789012"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/jobs"


@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    [
        ("dynamodb", "GetItem", {"TableName": "jobs"}, [("dynamodb:GetItem", TABLE)]),
        (
            "dynamodb",
            "Query",
            {"TableName": "jobs", "IndexName": "gsi1"},
            [("dynamodb:Query", f"{TABLE}/index/gsi1")],
        ),
        (
            "dynamodb",
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Update": {"TableName": "jobs"}},
                    {"ConditionCheck": {"TableName": "jobs"}},
                    {"Put": {"TableName": "jobs"}},
                    {"Update": {"TableName": "jobs"}},
                ]
            },
            [("dynamodb:UpdateItem", TABLE), ("dynamodb:ConditionCheckItem", TABLE), ("dynamodb:PutItem", TABLE)],
        ),
        (
            "dynamodb",
            "BatchWriteItem",
            {"RequestItems": {"jobs": [], "state": []}},
            [
                ("dynamodb:BatchWriteItem", TABLE),
                ("dynamodb:BatchWriteItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/state"),
            ],
        ),
        (
            "s3",
            "HeadObject",
            {"Bucket": "logs", "Key": "runs/r/a.csv"},
            [("s3:GetObject", "arn:aws:s3:::logs/runs/r/a.csv")],
        ),
        ("s3", "PutObject", {"Bucket": "logs", "Key": "k"}, [("s3:PutObject", "arn:aws:s3:::logs/k")]),
        ("s3", "ListObjectsV2", {"Bucket": "logs", "Prefix": "runs/"}, [("s3:ListBucket", "arn:aws:s3:::logs")]),
        (
            "sqs",
            "SendMessageBatch",
            {"QueueUrl": "http://127.0.0.1:5000/123456789012/shards"},
            [("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:shards")],
        ),
        (
            "sesv2",
            "SendEmail",
            {"FromEmailAddress": "a@example.com"},
            [("ses:SendEmail", f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/a@example.com")],
        ),
        (
            "secretsmanager",
            "GetSecretValue",
            {"SecretId": "syncjobs/scim"},
            [
                (
                    "secretsmanager:GetSecretValue",
                    f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:syncjobs/scim-??????",
                )
            ],
        ),
        (
            "ssm",
            "GetParameter",
            {"Name": "/syncjobs/token"},
            [("ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/syncjobs/token")],
        ),
        (
            "events",
            "PutTargets",
            {"Rule": "syncjobs-j1"},
            [("events:PutTargets", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/syncjobs-j1")],
        ),
        (
            "scheduler",
            "CreateSchedule",
            {"Name": "syncjobs-j1", "GroupName": "g", "Target": {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/sched"}},
            [
                ("scheduler:CreateSchedule", f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/g/syncjobs-j1"),
                ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/sched"),
            ],
        ),
        (
            "scheduler",
            "GetSchedule",
            {"Name": "syncjobs-j1"},
            [("scheduler:GetSchedule", f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/syncjobs-j1")],
        ),
        (
            "lambda",
            "Invoke",
            {"FunctionName": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:start:live"},
            [("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:start")],
        ),
        ("sts", "GetCallerIdentity", {}, [("sts:GetCallerIdentity", "*")]),
    ],
)
def test_each_call_needs_the_action_and_resource_aws_authorises(service, operation, params, expected):
    # Given a boto3 call / When its checks are worked out
    got = checks(service, operation, params, REGION, ACCOUNT)
    # Then they are IAM's action and resource ARN
    assert [(c.action, c.resource) for c in got] == expected


def test_a_raw_mail_is_checked_against_its_from_header_when_no_sender_is_given():
    message = b"From: Jobs <jobs@example.com>\r\nTo: x@example.com\r\n\r\nhi"
    (check,) = checks("sesv2", "SendEmail", {"Content": {"Raw": {"Data": message}}}, REGION, ACCOUNT)
    assert check.keys == {"ses:FromAddress": "jobs@example.com"}


ALLOW_PLAN = {
    "Effect": "Allow",
    "Action": ["s3:PutObject", "s3:GetObject"],
    "Resource": "arn:aws:s3:::logs/runs/*/plan/*",
}
ALLOW_DDB = {"Effect": "Allow", "Action": "dynamodb:*Item", "Resource": [TABLE, f"{TABLE}/index/*"]}
DENY_DELETE = {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"}
SES = {
    "Effect": "Allow",
    "Action": "ses:SendEmail",
    "Resource": "arn:aws:ses:*:*:identity/*",
    "Condition": {"StringEquals": {"ses:FromAddress": "jobs@example.com"}},
}
ODD_CONDITION = {
    "Effect": "Allow",
    "Action": "s3:GetObject",
    "Resource": "*",
    "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}},
}
ODD_DENY = {
    "Effect": "Deny",
    "Action": "s3:*",
    "Resource": "*",
    "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
}


@pytest.mark.parametrize(
    ("statements", "check", "verdict"),
    [
        ([ALLOW_PLAN], Check("s3:PutObject", "arn:aws:s3:::logs/runs/r1/plan/users.json"), True),
        ([ALLOW_PLAN], Check("s3:PutObject", "arn:aws:s3:::logs/runs/r1/parts/users.json"), False),
        ([ALLOW_PLAN], Check("S3:getobject", "arn:aws:s3:::logs/runs/r1/plan/x"), True),  # actions ignore case
        ([ALLOW_PLAN], Check("s3:GetObject", "arn:aws:s3:::LOGS/runs/r1/plan/x"), False),  # resources do not
        ([ALLOW_DDB], Check("dynamodb:GetItem", TABLE), True),
        ([ALLOW_DDB], Check("dynamodb:Query", f"{TABLE}/index/gsi1"), False),
        ([ALLOW_DDB, DENY_DELETE], Check("dynamodb:DeleteItem", TABLE), False),  # an explicit Deny wins
        ([ALLOW_DDB, DENY_DELETE], Check("dynamodb:PutItem", TABLE), True),
        ([], Check("dynamodb:GetItem", TABLE), False),  # the implicit deny
        (
            [SES],
            Check(
                "ses:SendEmail", "arn:aws:ses:r:a:identity/jobs@example.com", {"ses:FromAddress": "jobs@example.com"}
            ),
            True,
        ),
        (
            [SES],
            Check("ses:SendEmail", "arn:aws:ses:r:a:identity/x@example.com", {"ses:FromAddress": "x@example.com"}),
            False,
        ),
        ([SES], Check("ses:SendEmail", "arn:aws:ses:r:a:identity/x@example.com"), False),  # the key is missing
        ([ODD_CONDITION], Check("s3:GetObject", "arn:aws:s3:::b/k"), False),  # cannot evaluate: no Allow
        ([ALLOW_PLAN, ODD_DENY], Check("s3:GetObject", "arn:aws:s3:::logs/runs/r/plan/x"), False),  # ...a Deny
    ],
)
def test_a_policy_allows_only_what_a_statement_grants_and_no_statement_denies(statements, check, verdict):
    # Given a role's statements / When a call's check is judged / Then as IAM judges it
    assert allowed(statements, check) is verdict


def test_passing_the_scheduler_role_is_allowed_to_scheduler_only():
    # Given the admin API's grant: PassRole on the scheduler role, passed to Scheduler
    grant = {
        "Effect": "Allow",
        "Action": ["iam:PassRole"],
        "Resource": f"arn:aws:iam::{ACCOUNT}:role/sched",
        "Condition": {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
    }
    params = {"Name": "syncjobs-j1", "Target": {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/sched"}}
    (_, passing) = checks("scheduler", "UpdateSchedule", params, REGION, ACCOUNT)
    # Then a schedule may name that role, and no other, and the role may go nowhere else
    assert allowed([grant], passing)
    other = Check("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin", passing.keys)
    assert not allowed([grant], other)
    assert not allowed(
        [grant], Check("iam:PassRole", passing.resource, {"iam:PassedToService": "lambda.amazonaws.com"})
    )
