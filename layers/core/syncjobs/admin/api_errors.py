"""How the admin API answers what it refuses: one body for every refusal (`Refusal`: a message; `InvalidRequest`:
a message and the problems naming each field), the status the error's kind calls for."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from pydantic import ValidationError

from syncjobs.admin.api_models import problems_of
from syncjobs.admin.api_responses import InvalidRequest, Refusal
from syncjobs.admin.operations import InvalidInput
from syncjobs.store.errors import Conflict, NotFound
from syncjobs.workflows.approvals import ApprovalRefused


def refusal(status: int, body: Refusal | InvalidRequest, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(status, content_types.APPLICATION_JSON, body.model_dump(mode="json"), headers)


def _not_found(err: NotFound) -> Response[Any]:
    return refusal(404, Refusal(message=str(err)))


def _conflict(err: Conflict) -> Response[Any]:
    return refusal(409, Refusal(message=str(err)))


def _refused(err: ApprovalRefused) -> Response[Any]:
    """A decision on a request decided before (409), past its time (410) or approved by its own requester
    (403), as the mail links answer."""
    return refusal(err.status, Refusal(message=str(err)))


def _invalid(err: InvalidInput) -> Response[Any]:
    return refusal(422, InvalidRequest(message="invalid input", problems=err.problems))


def _malformed(err: RequestValidationError) -> Response[Any]:
    """A request that does not match its route's types. Powertools raises the same error for a success body
    that does not match its response model: that is our bug, not bad input, and stays a 500."""
    if any(tuple(error.get("loc", ()))[:1] == ("response",) for error in err.errors()):
        raise err
    return refusal(422, InvalidRequest(message="invalid input", problems=problems_of(err.errors())))


def _unsupported(err: RequestUnsupportedContentType) -> Response[Any]:
    message = "send JSON (Content-Type: application/json)"
    return refusal(415, InvalidRequest(message=message, problems=problems_of(err.errors())))


def _unreadable(err: ValueError) -> Response[Any]:
    """A body Powertools cannot parse at all (say, multipart without a boundary). A pydantic error from
    within is a bug, not bad input: it stays a 500."""
    if isinstance(err, ValidationError):
        raise err
    return refusal(400, Refusal(message=f"the request could not be read: {err}"))


def register(app: APIGatewayRestResolver) -> None:
    """Answer each kind of error with its status and body. ApprovalRefused is registered apart from
    Conflict, its base class, and ValidationError apart from ValueError: Powertools picks the handler of
    the nearest class."""
    handlers: dict[type[Exception], Any] = {
        NotFound: _not_found,
        Conflict: _conflict,
        ApprovalRefused: _refused,
        InvalidInput: _invalid,
        RequestValidationError: _malformed,
        RequestUnsupportedContentType: _unsupported,
        ValueError: _unreadable,
    }
    for error, handler in handlers.items():
        app.exception_handler(error)(handler)
