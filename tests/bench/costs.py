"""What AWS bills for counted requests: pure arithmetic over `Usage`, at the prices of prices.py.

DynamoDB on-demand bills request units by item size (https://docs.aws.amazon.com/amazondynamodb/latest/
developerguide/read-write-operations.html): a read of an item is one 4 KB unit per started 4 KB (half a
unit eventually consistent), also when the item does not exist; a Query or Scan is billed by the summed
size of the items it read, rounded up to 4 KB; a write is one unit per started 1 KB of the larger of the
item before and after; a transaction's reads and writes count twice; a write also writes the table's
global secondary indexes it changes (indexes.py), billed as write units too. Item size: attribute names plus
values (a string its UTF-8 bytes, a number about one byte per two digits plus one, a map or list 3 bytes
plus one per element plus its elements), as the developer guide's "Item sizes and formats" says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from tests.bench import prices


def attribute_size(value: dict[str, Any]) -> int:
    """The billed size of one DynamoDB attribute value, in boto3's low-level form ({"S": "x"})."""
    (kind, data), *_ = value.items()
    if kind == "S":
        return len(str(data).encode("utf-8"))
    if kind == "N":
        digits = str(data).lstrip("-").replace(".", "").lstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in data)
    if kind == "NS":
        return sum(attribute_size({"N": n}) for n in data)
    if kind == "BS":
        return sum(len(b) for b in data)
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + attribute_size(v) for k, v in data.items())
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def item_size(item: dict[str, dict[str, Any]] | None) -> int:
    """The billed size of an item: each attribute's name and value."""
    return sum(len(name.encode("utf-8")) + attribute_size(value) for name, value in (item or {}).items())


def read_units(size: int, consistent: bool = False) -> float:
    """Read request units of one item read (GetItem, each key of a BatchGetItem): at least one 4 KB unit."""
    units = max(1, math.ceil(size / prices.DYNAMODB_READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def query_units(sizes: list[int], consistent: bool = False) -> float:
    """Read request units of a Query or Scan: the summed size of the items read, rounded up to 4 KB."""
    return read_units(sum(sizes), consistent)


def write_units(size: int) -> int:
    """Write request units of one item write: one per started 1 KB, at least one."""
    return max(1, math.ceil(size / prices.DYNAMODB_WRITE_UNIT_BYTES))


def sqs_requests(payload_bytes: int) -> int:
    """Billed SQS requests of one API request: one per started 64 KB chunk of its payload, at least one."""
    return max(1, math.ceil(payload_bytes / prices.SQS_CHUNK_BYTES))


def lambda_gb_seconds(seconds: float, memory_mb: int) -> float:
    """GB-seconds of one invocation: its duration rounded up to the millisecond times its memory."""
    billed_ms = math.ceil(seconds * 1000 / prices.LAMBDA_BILLED_MS) * prices.LAMBDA_BILLED_MS
    return billed_ms / 1000 * memory_mb / 1024


@dataclass
class Usage:
    """Billed quantities of some work (a run), per service."""

    dynamodb_rru: float = 0.0
    dynamodb_wru: float = 0.0  # the tables' own
    dynamodb_index_wru: float = 0.0  # the global secondary indexes' (same price)
    lambda_requests: int = 0
    lambda_gb_seconds: float = 0.0  # the estimate of what a deployed function is billed (duration.py)
    lambda_wall_gb_seconds: float = 0.0  # local wall time, for comparison only: not priced
    lambda_cpu_s: float = 0.0  # the estimate's parts, in seconds (at each function's vCPU share): not priced
    lambda_aws_s: float = 0.0
    lambda_target_s: float = 0.0
    s3_put_class: int = 0
    s3_get_class: int = 0
    sqs_requests: int = 0
    ses_mails: int = 0
    secrets_manager_calls: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def __sub__(self, other: Usage) -> Usage:
        return Usage(**{f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)})


def cost_usd(usage: Usage) -> dict[str, float]:
    """Cost per service, in USD."""
    return {
        "dynamodb": usage.dynamodb_rru * prices.DYNAMODB_RRU_USD
        + (usage.dynamodb_wru + usage.dynamodb_index_wru) * prices.DYNAMODB_WRU_USD,
        "lambda": usage.lambda_requests * prices.LAMBDA_REQUEST_USD
        + usage.lambda_gb_seconds * prices.LAMBDA_GB_SECOND_USD,
        "s3": usage.s3_put_class * prices.S3_PUT_CLASS_USD + usage.s3_get_class * prices.S3_GET_CLASS_USD,
        "sqs": usage.sqs_requests * prices.SQS_REQUEST_USD,
        "ses": usage.ses_mails * prices.SES_MAIL_USD,
        "secretsmanager": usage.secrets_manager_calls * prices.SECRETS_MANAGER_CALL_USD,
    }


def per_million(total_usd: float, entities: int) -> float:
    """A run's cost scaled to one million entities (the cost of a run grows with its entities)."""
    if entities <= 0:
        raise ValueError("entities must be positive")
    return total_usd * 1_000_000 / entities
