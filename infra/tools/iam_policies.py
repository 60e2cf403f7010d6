"""Each function's IAM policy, as the SAM translator gives it its execution role.

Runs the SAM transform offline (as check_template.py does) and prints, per function (logical id), the
statements of its role: the expanded SAM policy templates (DynamoDBCrudPolicy, S3ReadPolicy, ...), the
inline statements, the permissions SAM adds for event sources (stream and queue pollers, on-failure
destinations), and the managed policies SAM attaches, from a fixed table of their documents (offline
there is no IAM to ask). Intrinsics (Ref, Fn::GetAtt, Fn::Sub, ...) are left as CloudFormation JSON:
the local stack resolves them against the names and ARNs it provisioned (syncjobs_local.iam).

Runs in the tools virtualenv (.venv-tools), where aws-sam-translator lives.

Usage: iam_policies.py TEMPLATE  -> {"FunctionLogicalId": {"role": ..., "statements": [...]}} on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_template import transform

_LOGS = {
    "Effect": "Allow",
    "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
    "Resource": "*",
}
_XRAY = {
    "Effect": "Allow",
    "Action": [
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:GetSamplingStatisticSummaries",
    ],
    "Resource": "*",
}

# The documents of the AWS managed policies SAM attaches (check_template's fixed map), as AWS has them.
MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": [_LOGS],
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": [_XRAY],
    "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess": [_XRAY],
    "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole": [
        {
            "Effect": "Allow",
            "Action": [
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
                "dynamodb:ListStreams",
            ],
            "Resource": "*",
        },
        _LOGS,
    ],
    "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": "*",
        },
        _LOGS,
    ],
}


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return list(statements) if isinstance(statements, list) else [statements]


def _managed(arn: Any) -> list[dict[str, Any]]:
    if not isinstance(arn, str) or arn not in MANAGED_POLICIES:
        raise SystemExit(f"managed policy {arn!r}: its document is not in iam_policies.MANAGED_POLICIES")
    return MANAGED_POLICIES[arn]


def policies(cfn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per function logical id: its role's logical id and every statement of the role."""
    resources = cfn["Resources"]
    out: dict[str, dict[str, Any]] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        role_ref = resource["Properties"]["Role"]
        if not (isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref):
            raise SystemExit(f"{logical_id}: its Role is not a role of this template ({role_ref!r})")
        role_id = role_ref["Fn::GetAtt"][0]
        role = resources[role_id]["Properties"]
        statements: list[dict[str, Any]] = []
        for arn in role.get("ManagedPolicyArns", []):
            # marked: the Lambda runtime's and pollers' permissions, not the code's (reports leave them out)
            statements += [{**statement, "Sid": "Managed"} for statement in _managed(arn)]
        for policy in role.get("Policies", []):
            statements += _statements(policy["PolicyDocument"])
        out[logical_id] = {"role": role_id, "statements": statements}
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    json.dump(policies(transform(Path(argv[1]))), sys.stdout, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
