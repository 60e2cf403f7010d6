"""Domain errors raised by the store instead of botocore's ClientError."""

from __future__ import annotations


class StoreError(RuntimeError):
    """An AWS call failed in a way the caller cannot fix by retrying."""


class TransientStoreError(StoreError):
    """Throttled or unavailable: retrying later is expected to succeed."""


class NotFound(StoreError):
    """The item, object or secret does not exist."""


class Conflict(StoreError):
    """A conditional write lost: someone else changed the item first (or it already exists)."""


class RejectedError(StoreError):
    """AWS refused the request as invalid (e.g. SES MessageRejected for an unverified sender)."""


_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "InternalServerError",
        "InternalFailure",
        "InternalServiceError",  # Secrets Manager's 500
        "TooManyRequestsException",
        "SlowDown",
        "LimitExceededException",
        "TransactionInProgressException",
    }
)
_NOT_FOUND_CODES = frozenset(
    {"ResourceNotFoundException", "NoSuchKey", "NoSuchBucket", "ParameterNotFound", "404", "NotFound"}
)


def translate(err: Exception, what: str) -> StoreError:
    """Map a botocore ClientError to a domain error; `what` names the thing that was being done."""
    response = getattr(err, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    message = str(response.get("Error", {}).get("Message", "")) or str(err)
    text = f"{what}: {code or type(err).__name__}: {message}"
    if code == "ConditionalCheckFailedException":
        return Conflict(text)
    if code in _TRANSIENT_CODES:
        return TransientStoreError(text)
    if code in _NOT_FOUND_CODES:
        return NotFound(text)
    if code in {"MessageRejected", "MailFromDomainNotVerifiedException", "ValidationException"}:
        return RejectedError(text)
    return StoreError(text)
