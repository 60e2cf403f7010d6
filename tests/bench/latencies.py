"""Typical latencies of AWS requests as a function deployed in the same region sees them, the constants of
the bench's Lambda duration estimate (duration.py). Conservative: at or above what AWS documents, so the
estimate errs towards a larger bill. The local stack's own request times are no guide: moto serves them
in this process, on the cores the handlers use.

Sources:
- DynamoDB: single-digit millisecond responses at any scale (https://aws.amazon.com/dynamodb/ and the
  developer guide's introduction): 10 ms for a single-item
  request; 25 ms for a request of many items (BatchGetItem of up to 100 keys, BatchWriteItem of up to
  25, a Query page, a transaction of two phases).
- S3: the performance guidelines put the median latency of requests under 512 KB in the tens of
  milliseconds (https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/
  timeouts-and-retries-for-latency-sensitive-applications.html), and the design patterns give small-object
  and first-byte latencies of roughly 100-200 ms (the reason to cache hot objects): 100 ms per request.
- SQS: no documented figure per request; 30 ms per send, assumed.
- SES: 100 ms per send (the API accepts the mail; delivery is asynchronous).
- Secrets Manager: 50 ms per GetSecretValue (the functions cache the secret per sandbox).
- Lambda Invoke: 50 ms (an asynchronous Event invoke returns once queued; none of the measured runs waits
  on a synchronous one).
- Any other service: 50 ms.
"""

from __future__ import annotations

DEFAULT_S = 0.050

PER_SERVICE_S = {
    "dynamodb": 0.010,
    "s3": 0.100,
    "sqs": 0.030,
    "ses": 0.100,
    "sesv2": 0.100,
    "secretsmanager": 0.050,
    "lambda": 0.050,
}

PER_OPERATION_S = {
    "dynamodb.BatchGetItem": 0.025,
    "dynamodb.BatchWriteItem": 0.025,
    "dynamodb.Query": 0.025,
    "dynamodb.Scan": 0.025,
    "dynamodb.TransactWriteItems": 0.025,
    "dynamodb.TransactGetItems": 0.025,
}


def latency_s(operation: str) -> float:
    """The typical latency of one request, by "service.Operation"."""
    if operation in PER_OPERATION_S:
        return PER_OPERATION_S[operation]
    return PER_SERVICE_S.get(operation.split(".", 1)[0], DEFAULT_S)
