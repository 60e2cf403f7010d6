"""Which IAM actions on which resources a boto3 call needs, as AWS authorises it.

`checks(service, operation, params, region, account)` gives the (action, resource, condition keys)
AWS evaluates for one API call. Pure: no AWS, no state; tests/unit/test_local_iam.py tables it.
Calls it does not know are checked as `<prefix>:<Operation>` on `*` (IAM's usual naming), so a new
call is checked strictly rather than let through.
"""

from __future__ import annotations

import email
import email.utils
from dataclasses import dataclass, field
from typing import Any

# boto3 service name -> IAM service prefix, where they differ
_PREFIX = {"sesv2": "ses", "dynamodbstreams": "dynamodb"}

# DynamoDB transaction parts -> the item action IAM checks for each
_TRANSACT = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}

# S3 operations whose IAM action is not s3:<Operation>, and whether they act on an object or the bucket
_S3_OBJECT = {"GetObject": "GetObject", "HeadObject": "GetObject", "PutObject": "PutObject"}
_S3_OBJECT |= {"DeleteObject": "DeleteObject", "GetObjectTagging": "GetObjectTagging"}
# a multipart upload is authorised as a PutObject of its key, except its abort
_S3_OBJECT |= {"CreateMultipartUpload": "PutObject", "UploadPart": "PutObject", "CompleteMultipartUpload": "PutObject"}
_S3_OBJECT |= {"AbortMultipartUpload": "AbortMultipartUpload"}
_S3_BUCKET = {"ListObjectsV2": "ListBucket", "ListObjects": "ListBucket", "HeadBucket": "ListBucket"}

# SQS operations whose action differs from the operation (batch forms share the single form's action)
_SQS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


@dataclass(frozen=True)
class Check:
    action: str
    resource: str
    keys: dict[str, str] = field(default_factory=dict, compare=False, hash=False)  # condition keys


def prefix(service: str) -> str:
    return _PREFIX.get(service, service)


def queue_arn(url: str, region: str, account: str) -> str:
    """SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>, or moto's) -> its ARN."""
    owner, name = url.rstrip("/").split("/")[-2:]
    return f"arn:aws:sqs:{region}:{owner if owner.isdigit() else account}:{name}"


def function_arn(name: str, region: str, account: str) -> str:
    """Lambda FunctionName (a name, a partial or a full ARN, maybe qualified) -> the function's ARN."""
    if name.startswith("arn:"):
        parts = name.split(":")
        return ":".join(parts[:7])
    if ":" in name and not name.split(":", 1)[0].isdigit():
        name = name.split(":", 1)[0]  # name:qualifier
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


def _mail_from(params: dict[str, Any]) -> str:
    sender = params.get("FromEmailAddress") or params.get("Source")
    if sender:
        return str(sender)
    raw = params.get("Content", {}).get("Raw", {}).get("Data") or params.get("RawMessage", {}).get("Data")
    if raw:
        message = email.message_from_bytes(raw if isinstance(raw, bytes) else str(raw).encode())
        return str(email.utils.parseaddr(str(message.get("From", "")))[1])
    return ""


def checks(
    service: str, operation: str, params: dict[str, Any], region: str, account: str, secret_arn: Any = None
) -> list[Check]:
    """What IAM checks for `service.operation(**params)`. `secret_arn(name)`: a secret's ARN by name."""
    p = prefix(service)
    if service == "dynamodb":
        return _dynamodb(operation, params, region, account)
    if service == "s3":
        bucket = params.get("Bucket", "")
        if operation in _S3_OBJECT:
            return [Check(f"s3:{_S3_OBJECT[operation]}", f"arn:aws:s3:::{bucket}/{params.get('Key', '')}")]
        if operation == "CopyObject":
            source = params["CopySource"]
            source = source if isinstance(source, str) else f"{source['Bucket']}/{source['Key']}"
            return [
                Check("s3:GetObject", f"arn:aws:s3:::{source.lstrip('/')}"),
                Check("s3:PutObject", f"arn:aws:s3:::{bucket}/{params['Key']}"),
            ]
        action = _S3_BUCKET.get(operation, operation)
        keys = {"s3:prefix": str(params.get("Prefix", ""))} if action == "ListBucket" else {}
        return [Check(f"s3:{action}", f"arn:aws:s3:::{bucket}", keys)]
    if service == "sqs":
        action = f"sqs:{_SQS.get(operation, operation)}"
        if "QueueUrl" in params:
            return [Check(action, queue_arn(params["QueueUrl"], region, account))]
        if "QueueName" in params:
            return [Check(action, f"arn:aws:sqs:{region}:{account}:{params['QueueName']}")]
        return [Check(action, "*")]
    if (service == "sesv2" and operation == "SendEmail") or (service == "ses" and operation.startswith("Send")):
        sender = _mail_from(params)
        domain = sender.rsplit("@", 1)[-1]
        action = "ses:SendRawEmail" if service == "ses" and operation == "SendRawEmail" else "ses:SendEmail"
        # SES authorises the sending identity: the address, or its domain when that is what is verified
        keys = {"ses:FromAddress": sender}
        identity = f"arn:aws:ses:{region}:{account}:identity"
        return [Check(action, f"{identity}/{sender}", keys)] if sender else [Check(action, f"{identity}/{domain}")]
    if service == "secretsmanager" and "SecretId" in params:
        secret = str(params["SecretId"])
        if not secret.startswith("arn:"):
            secret = (secret_arn(secret) if secret_arn else None) or (
                f"arn:aws:secretsmanager:{region}:{account}:secret:{secret}-??????"
            )
        return [Check(f"secretsmanager:{operation}", secret)]
    if service == "ssm" and operation in {"GetParameter", "GetParameters"}:
        names = [params["Name"]] if "Name" in params else list(params.get("Names", []))
        return [
            Check(
                "ssm:GetParameters" if operation == "GetParameters" else "ssm:GetParameter",
                _parameter(n, region, account),
            )
            for n in names
        ]
    if service == "ssm" and operation == "ListTagsForResource" and params.get("ResourceType") == "Parameter":
        return [Check("ssm:ListTagsForResource", _parameter(str(params["ResourceId"]), region, account))]
    if service == "events":
        name = params.get("Name") or params.get("Rule")
        if name:
            return [Check(f"events:{operation}", f"arn:aws:events:{region}:{account}:rule/{name}")]
        return [Check(f"events:{operation}", "*")]
    if service == "scheduler" and "Name" in params and operation.endswith("Schedule"):
        group = params.get("GroupName") or "default"
        out = [
            Check(f"scheduler:{operation}", f"arn:aws:scheduler:{region}:{account}:schedule/{group}/{params['Name']}")
        ]
        role = params.get("Target", {}).get("RoleArn")
        if role:  # naming the role a schedule runs as passes it to Scheduler
            out.append(Check("iam:PassRole", str(role), {"iam:PassedToService": "scheduler.amazonaws.com"}))
        return out
    if service == "lambda" and operation in {"Invoke", "InvokeAsync"}:
        return [Check("lambda:InvokeFunction", function_arn(params["FunctionName"], region, account))]
    return [Check(f"{p}:{operation}", "*")]


def _parameter(name: str, region: str, account: str) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"


def _table(name: str, region: str, account: str) -> str:
    return name if name.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{name}"


def _dynamodb(operation: str, params: dict[str, Any], region: str, account: str) -> list[Check]:
    if operation in {"BatchGetItem", "BatchWriteItem"}:
        return [Check(f"dynamodb:{operation}", _table(t, region, account)) for t in params.get("RequestItems", {})]
    if operation in {"TransactWriteItems", "TransactGetItems"}:
        out = []
        for item in params.get("TransactItems", []):
            ((kind, body),) = item.items()
            out.append(Check(f"dynamodb:{_TRANSACT[kind]}", _table(body["TableName"], region, account)))
        return list(dict.fromkeys(out))
    if "TableName" not in params:
        return [Check(f"dynamodb:{operation}", "*")]
    table = _table(params["TableName"], region, account)
    if params.get("IndexName"):
        table = f"{table}/index/{params['IndexName']}"
    return [Check(f"dynamodb:{operation}", table)]
