"""Admin API routes of runs: request a run, list a job's runs, show, stop, download a log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from syncjobs.admin import operations
from syncjobs.admin.api_models import IdempotencyKey, RunRequest, caller_of, new_router, request_id_of
from syncjobs.admin.api_responses import (
    CHANGE,
    READ,
    WITH_BODY,
    LogLocation,
    RunDetail,
    RunList,
    RunStarted,
    documented,
)
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import Run
from syncjobs.notify.render import render_run_page
from syncjobs.notify.words import named_counts_by_type

router = new_router()


@router.post("/jobs/<job_id>/runs", status_code=202, responses=documented(202, *WITH_BODY))
def request_run(
    job_id: str, request: Annotated[RunRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[RunStarted]:
    """Start a run now (202: start_run runs asynchronously). The same Idempotency-Key names the same run.
    A job that needs approval answers with the approval request (`approval_id`) its preview goes to.
    `failed_of`: only that earlier run's failed entities (409 when it has not ended or failed nothing)."""
    event = router.current_event
    started = operations.request_run(
        job_id, request.type.value, caller_of(event), "api", request_id_of(event, idempotency_key), request.failed_of
    )
    body = RunStarted(job_id=job_id, run_id=started.run_id, approval_id=started.approval_id)
    return Response(202, content_types.APPLICATION_JSON, body)


@router.get("/jobs/<job_id>/runs", responses=documented(200, *READ))
def list_runs(
    job_id: str,
    limit: Annotated[int, Query(ge=1, le=100, description="runs per page")] = 50,
    since: Annotated[datetime | None, Query(description="only runs created at or after this time")] = None,
    status: Annotated[str | None, Query(description="only runs in this status")] = None,
    next_token: Annotated[str | None, Query(description="the next_token of the previous page")] = None,
) -> RunList:
    """The job's runs, newest first, a page at a time (`next_token` is null on the last page)."""
    runs, token = operations.list_runs(job_id, limit, since, status, next_token)
    return RunList(runs=runs, next_token=token)


_RUN_OR_PAGE: OpenAPIResponse = {
    "description": "The run as JSON, or its details page (HTML) for `Accept: text/html`",
    "content": {
        "application/json": {"model": RunDetail},
        "text/html": {"schema": {"type": "string", "description": "the run's details page"}},
    },
}


@router.get("/runs/<run_id>", responses={**documented(200, *READ), 200: _RUN_OR_PAGE})
def get_run(run_id: str) -> Response[RunDetail | str]:
    """The run with the mails sent about it, or its details page for `Accept: text/html`."""
    run = operations.get_run(run_id)
    notes = operations.run_notifications(run_id)
    headers = router.current_event.headers
    if "text/html" in (headers.get("Accept") or headers.get("accept") or ""):
        links = {outcome: f"{segment(run_id)}/logs/{outcome}" for outcome in run.log_keys}
        return Response(200, "text/html; charset=utf-8", render_run_page(run, notes, links))
    named = named_counts_by_type(run.run_type.value, run.counts)
    body = RunDetail(**dict(run), notifications=notes, named_counts=named)
    return Response(200, content_types.APPLICATION_JSON, body)


@router.post("/runs/<run_id>/stop", responses=documented(200, *CHANGE))
def stop_run(run_id: str) -> Run:
    """Ask the run to stop: every shard stops within one batch (409 if the run is over)."""
    return operations.stop_run(run_id, caller_of(router.current_event))


_REDIRECT: OpenAPIResponse = {
    "description": "Redirected to the log, presigned for 5 minutes",
    "headers": {"Location": {"description": "the presigned URL", "schema": {"type": "string"}}},
}


@router.get("/runs/<run_id>/logs/<outcome>", status_code=302, responses={**documented(302, *READ), 302: _REDIRECT})
def get_log(run_id: str, outcome: Outcome) -> Response[LogLocation]:
    """302 to the log presigned for 5 minutes."""
    url = operations.log_url(run_id, outcome.value)
    headers = {"Location": url, "Cache-Control": "no-store"}
    return Response(302, content_types.APPLICATION_JSON, LogLocation(location=url), headers)


def segment(value: str) -> str:
    """A value as one segment of a URL path (a run id's characters escaped)."""
    return quote(value, safe="")
