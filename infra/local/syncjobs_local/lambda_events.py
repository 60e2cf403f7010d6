"""Lambda-shaped events from what boto3 returns, and Lambda's event filtering, done locally.

- SQS: boto3 gives PascalCase messages; Lambda's SQS event is camelCase with eventSourceARN.
- DynamoDB streams: moto omits eventSourceARN and boto3 turns ApproximateCreationDateTime into a
  datetime; Lambda gives epoch seconds.
- FilterCriteria: moto does not apply it, so the pollers do, with the patterns from template.yaml.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    records = []
    for m in messages:
        attrs = m.get("Attributes", {})
        records.append(
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": attrs.get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": attrs.get("SentTimestamp", "0"),
                    "SenderId": attrs.get("SenderId", "AIDALOCAL"),
                    "ApproximateFirstReceiveTimestamp": attrs.get("ApproximateFirstReceiveTimestamp", "0"),
                },
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


ADMIN_ARN = "arn:aws:iam::123456789012:user/admin"


def api_event(
    method: str,
    target: str,
    body: Any = None,
    caller: str = ADMIN_ARN,
    headers: dict[str, str] | None = None,
    raw_body: str | None = None,
) -> dict[str, Any]:
    """An API Gateway REST (proxy, IAM-authorised) event, as the admin API receives it. `target` is the
    path with any query string; `body` is sent as JSON, `raw_body` as it is."""
    parts = urllib.parse.urlsplit(target)
    query = urllib.parse.parse_qs(parts.query)
    headers = headers or {"content-type": "application/json"}
    return {
        "resource": "/{proxy+}",
        "path": parts.path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": {"proxy": parts.path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/prod{parts.path}",
            "stage": "prod",
            "requestId": str(uuid.uuid4()),
            "identity": {"userArn": caller, "caller": caller, "sourceIp": "127.0.0.1"},
        },
        "body": raw_body if raw_body is not None else (None if body is None else json.dumps(body)),
        "isBase64Encoded": False,
    }


def stream_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(record, default=str))
    created = record.get("dynamodb", {}).get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        out["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
    out["eventSourceARN"] = stream_arn
    out["awsRegion"] = region
    return out


# ------------------------------------------------------------------ event filtering
class UnsupportedPattern(ValueError):
    pass


def _match_value(rule: Any, value: Any, present: bool) -> bool:
    if isinstance(rule, dict):
        ((op, arg),) = rule.items()
        if op == "exists":
            return present is bool(arg)
        if not present:
            return False
        if op == "prefix":
            return isinstance(value, str) and value.startswith(arg)
        if op == "anything-but":
            values = arg if isinstance(arg, list) else [arg]
            return value not in values
        if op == "numeric":
            raise UnsupportedPattern("numeric matching is not supported locally")
        raise UnsupportedPattern(f"filter operator {op!r} is not supported locally")
    return present and value == rule


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge-style pattern matching, as Lambda's FilterCriteria does it (the subset we use)."""
    for key, rule in pattern.items():
        present = isinstance(event, dict) and key in event
        value = event.get(key) if present else None
        if isinstance(rule, dict):
            if not present or not isinstance(value, dict) or not matches(rule, value):
                return False
        elif isinstance(rule, list):
            if not any(_match_value(r, value, present) for r in rule):
                return False
        else:
            raise UnsupportedPattern(f"pattern value for {key!r} must be an object or a list")
    return True


@dataclass(frozen=True)
class FilterCriteria:
    patterns: tuple[dict[str, Any], ...]

    @classmethod
    def from_template(cls, criteria: dict[str, Any] | None) -> FilterCriteria:
        filters = (criteria or {}).get("Filters", [])
        return cls(tuple(json.loads(f["Pattern"]) for f in filters))

    def accepts(self, event: dict[str, Any]) -> bool:
        return not self.patterns or any(matches(p, event) for p in self.patterns)


class LambdaContext:
    """What a handler reads from Lambda's context object; the remaining time counts down from the
    invocation's start to its function's Timeout, as Lambda's does."""

    def __init__(
        self,
        function_name: str,
        region: str,
        account: str,
        memory_mb: int = 512,
        timeout_s: float = 60,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._clock = clock
        self._deadline = clock() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock()) * 1000))
