"""admin_api: API Gateway (IAM auth) -> admin operations, JSON in and out.

Powertools validates each request against the route's types (the OpenAPI document, docs/openapi.json,
is generated from them); every refusal is a 4xx whose `problems` name the field.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, unquote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from syncjobs.admin import collections, operations
from syncjobs.admin.api_models import (
    RunRequest,
    ScheduleRequest,
    SubscribeRequest,
    TraceRequest,
    problems_of,
    too_large,
)
from syncjobs.models.outcome import Outcome
from syncjobs.notify.render import render_run_page
from syncjobs.observability import logger, metrics, traced_handler
from syncjobs.store.errors import Conflict, NotFound
from syncjobs.workflows.approvals import ApprovalRefused

app = APIGatewayRestResolver(enable_validation=True)


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


@app.exception_handler(NotFound)
def _not_found(err: NotFound) -> Response[Any]:
    return _json(404, {"message": str(err)})


@app.exception_handler(Conflict)
def _conflict(err: Conflict) -> Response[Any]:
    return _json(409, {"message": str(err)})


@app.exception_handler(ApprovalRefused)
def _refused(err: ApprovalRefused) -> Response[Any]:
    """A decision on a request decided before (409), past its time (410) or approved by its own requester
    (403), as the mail links answer. Registered apart from Conflict, its base class: Powertools picks the
    handler of the nearest class."""
    return _json(err.status, {"message": str(err)})


@app.exception_handler(operations.InvalidInput)
def _invalid(err: operations.InvalidInput) -> Response[Any]:
    return _json(422, {"message": "invalid input", "problems": err.problems})


@app.exception_handler(RequestValidationError)
def _malformed(err: RequestValidationError) -> Response[Any]:
    return _json(422, {"message": "invalid input", "problems": problems_of(err.errors())})


@app.exception_handler(RequestUnsupportedContentType)
def _unsupported(err: RequestUnsupportedContentType) -> Response[Any]:
    return _json(415, {"message": "send JSON (Content-Type: application/json)", "problems": problems_of(err.errors())})


@app.exception_handler(ValueError)
def _unreadable(err: ValueError) -> Response[Any]:
    """A body Powertools cannot parse at all (say, multipart without a boundary). A pydantic error from
    within is a bug, not bad input: it stays a 500."""
    if isinstance(err, ValidationError):
        raise err
    return _json(400, {"message": f"the request could not be read: {err}"})


# ---------------------------------------------------------------------- jobs
@app.get("/jobs")
def list_jobs() -> dict[str, Any]:
    return {"jobs": [asdict(job) for job in operations.list_jobs()]}


@app.get("/jobs/<job_id>")
def show_job(job_id: str) -> dict[str, Any]:
    summary, definition, subscriptions = operations.show_job(job_id)
    return {
        **asdict(summary),
        "definition": definition.to_document(),
        "subscribers": [s.model_dump(mode="json") for s in subscriptions],
    }


@app.put("/jobs/<job_id>")
def put_job(
    job_id: str,
    document: Annotated[dict[str, Any], Body(description="a job definition: examples/jobs/hr-to-scim.yaml as JSON")],
) -> dict[str, Any]:
    definition = operations.parse_job({**document, "job_id": job_id})
    return {"job_id": job_id, "version": operations.apply_job(definition)}


@app.delete("/jobs/<job_id>")
def delete_job(job_id: str) -> dict[str, Any]:
    operations.delete_job(job_id)
    return {"job_id": job_id, "deleted": True}


@app.post("/jobs/<job_id>/restart")
def restart_job(job_id: str) -> dict[str, Any]:
    """Clear the job's quarantine, its streak of outright failures and its watermarks (Entra's restart)."""
    return asdict(operations.restart_job(job_id, _caller()))


@app.post("/jobs/<job_id>/trace-next-run")
def trace_next_run(job_id: str, request: Annotated[TraceRequest, Body()]) -> dict[str, Any]:
    operations.trace_next_run(job_id, request.outcomes)
    return {"job_id": job_id, "trace_next_run": sorted(set(request.outcomes))}


# ---------------------------------------------------------------------- runs
@app.post("/jobs/<job_id>/runs")
def request_run(
    job_id: str,
    request: Annotated[RunRequest, Body()],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)] = None,
) -> Response[Any]:
    """Start a run now (202: start_run runs asynchronously). The same Idempotency-Key names the same run.
    A job that needs approval answers with the approval request (`approval_id`) its preview goes to."""
    request_id = idempotency_key or app.current_event.request_context.request_id
    started = operations.request_run(job_id, request.type.value, _caller(), "api", f"api:{request_id}")
    return _json(202, {"job_id": job_id, **asdict(started)})


@app.get("/jobs/<job_id>/runs")
def list_runs(
    job_id: str,
    limit: Annotated[int, Query(ge=1, le=100, description="runs per page")] = 50,
    since: Annotated[datetime | None, Query(description="only runs created at or after this time")] = None,
    status: Annotated[str | None, Query(description="only runs in this status")] = None,
    next_token: Annotated[str | None, Query(description="the next_token of the previous page")] = None,
) -> dict[str, Any]:
    """The job's runs, newest first, a page at a time (`next_token` is null on the last page)."""
    runs, token = operations.list_runs(job_id, limit, since, status, next_token)
    return {"runs": [run.model_dump(mode="json") for run in runs], "next_token": token}


@app.get("/runs/<run_id>")
def get_run(run_id: str) -> Response[Any]:
    """The run as JSON, or as its details page for `Accept: text/html`."""
    run = operations.get_run(run_id)
    notes = operations.run_notifications(run_id)
    if "text/html" in (app.current_event.headers.get("Accept") or app.current_event.headers.get("accept") or ""):
        links = {outcome: f"{segment(run_id)}/logs/{outcome}" for outcome in run.log_keys}
        return Response(200, "text/html; charset=utf-8", render_run_page(run, notes, links))
    return _json(200, {**run.model_dump(mode="json"), "notifications": [n.__dict__ for n in notes]})


@app.post("/runs/<run_id>/stop")
def stop_run(run_id: str) -> dict[str, Any]:
    return operations.stop_run(run_id, _caller()).model_dump(mode="json")


@app.get("/runs/<run_id>/logs/<outcome>")
def get_log(run_id: str, outcome: Outcome) -> Response[Any]:
    """302 to the log presigned for 5 minutes."""
    url = operations.log_url(run_id, outcome.value)
    return _json(302, {"location": url}, headers={"Location": url, "Cache-Control": "no-store"})


def segment(value: str) -> str:
    return quote(value, safe="")


def _caller() -> str:
    return app.current_event.request_context.identity.user_arn or "unknown IAM caller"


# ---------------------------------------------------------------------- subscriptions
@app.get("/jobs/<job_id>/subscribers")
def list_subscribers(job_id: str) -> dict[str, Any]:
    return {"subscribers": [s.model_dump(mode="json") for s in operations.subscribers(job_id)]}


@app.put("/jobs/<job_id>/subscribers/<email>")
def subscribe(job_id: str, email: str, request: Annotated[SubscribeRequest | None, Body()] = None) -> dict[str, Any]:
    """Subscribe a person or a distribution list, with a trigger (default: the job's policy)."""
    trigger = request.trigger.value if request else "default"
    return operations.subscribe(job_id, unquote(email), trigger).model_dump(mode="json")


@app.delete("/jobs/<job_id>/subscribers/<email>")
def unsubscribe(job_id: str, email: str) -> dict[str, Any]:
    operations.unsubscribe(job_id, unquote(email))
    return {"job_id": job_id, "email": unquote(email), "subscribed": False}


# ---------------------------------------------------------------------- schedules
@app.put("/jobs/<job_id>/schedule")
def set_schedule(job_id: str, request: Annotated[ScheduleRequest, Body()]) -> dict[str, Any]:
    rule = operations.set_schedule(job_id, request.expression, request.type.value)
    return _schedule(rule, operations.next_fires(job_id)[1])


@app.delete("/jobs/<job_id>/schedule")
def clear_schedule(job_id: str) -> dict[str, Any]:
    return {"job_id": job_id, "scheduled": False, "removed": operations.clear_schedule(job_id)}


@app.get("/jobs/<job_id>/schedule")
def get_schedule(job_id: str) -> dict[str, Any]:
    rule, fires = operations.next_fires(job_id)
    if rule is None:
        return {"job_id": job_id, "scheduled": False, "next_fires": []}
    return _schedule(rule, fires)


# ---------------------------------------------------------------------- collections
@app.get("/collections")
def list_collections() -> dict[str, Any]:
    return {"collections": [asdict(c) for c in collections.list_collections()]}


@app.get("/collections/<collection_id>")
def show_collection(collection_id: str) -> dict[str, Any]:
    summary, definition = collections.show_collection(collection_id)
    return {**asdict(summary), "definition": definition.to_document()}


@app.put("/collections/<collection_id>")
def put_collection(
    collection_id: str,
    document: Annotated[dict[str, Any], Body(description="a collection: examples/collections/*.yaml as JSON")],
) -> dict[str, Any]:
    definition = collections.parse_collection({**document, "collection_id": collection_id})
    return {"collection_id": collection_id, "version": collections.apply_collection(definition)}


@app.delete("/collections/<collection_id>")
def delete_collection(collection_id: str) -> dict[str, Any]:
    collections.delete_collection(collection_id)
    return {"collection_id": collection_id, "deleted": True}


@app.post("/collections/<collection_id>/runs")
def request_collection_run(
    collection_id: str,
    request: Annotated[RunRequest, Body()],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)] = None,
) -> Response[Any]:
    """Run the collection now (202). The same Idempotency-Key names the same collection run."""
    request_id = idempotency_key or app.current_event.request_context.request_id
    started = collections.request_collection_run(
        collection_id, request.type.value, _caller(), "api", f"api:{request_id}"
    )
    return _json(
        202,
        {"collection_id": collection_id, "collection_run_id": started.run_id, "approval_id": started.approval_id},
    )


@app.get("/collections/<collection_id>/runs")
def list_collection_runs(collection_id: str) -> dict[str, Any]:
    return {"runs": [r.model_dump(mode="json") for r in collections.list_collection_runs(collection_id)]}


@app.get("/collection-runs/<collection_run_id>")
def get_collection_run(collection_run_id: str) -> dict[str, Any]:
    """The collection run with the runs of its steps."""
    crun, runs = collections.get_collection_run(collection_run_id)
    return {**crun.model_dump(mode="json"), "runs": [r.model_dump(mode="json") for r in runs]}


@app.post("/collection-runs/<collection_run_id>/stop")
def stop_collection_run(collection_run_id: str) -> dict[str, Any]:
    """Stop a collection run: its running step is stopped and no later step starts (409 if it is over)."""
    return collections.stop_collection(collection_run_id, _caller()).model_dump(mode="json")


@app.put("/collections/<collection_id>/schedule")
def set_collection_schedule(collection_id: str, request: Annotated[ScheduleRequest, Body()]) -> dict[str, Any]:
    rule = operations.set_schedule(collection_id, request.expression, request.type.value, "collection")
    return _schedule(rule, operations.next_fires(collection_id, kind="collection")[1], "collection_id")


@app.delete("/collections/<collection_id>/schedule")
def clear_collection_schedule(collection_id: str) -> dict[str, Any]:
    removed = operations.clear_schedule(collection_id, "collection")
    return {"collection_id": collection_id, "scheduled": False, "removed": removed}


@app.get("/collections/<collection_id>/schedule")
def get_collection_schedule(collection_id: str) -> dict[str, Any]:
    rule, fires = operations.next_fires(collection_id, kind="collection")
    if rule is None:
        return {"collection_id": collection_id, "scheduled": False, "next_fires": []}
    return _schedule(rule, fires, "collection_id")


# ---------------------------------------------------------------------- approvals
@app.get("/approvals")
def list_approvals(
    status: Annotated[str | None, Query(description="previewing, pending, approved, rejected or expired")] = None,
) -> dict[str, Any]:
    return {"approvals": [a.model_dump(mode="json") for a in collections.list_approvals(status)]}


@app.get("/approvals/<approval_id>")
def get_approval(approval_id: str) -> dict[str, Any]:
    return collections.get_approval(approval_id).model_dump(mode="json")


@app.post("/approvals/<approval_id>/approve")
def approve(approval_id: str) -> dict[str, Any]:
    """Approve a pending request as the calling IAM identity: the real run starts."""
    return collections.decide_approval(approval_id, True, _caller()).model_dump(mode="json")


@app.post("/approvals/<approval_id>/reject")
def reject(approval_id: str) -> dict[str, Any]:
    return collections.decide_approval(approval_id, False, _caller()).model_dump(mode="json")


def _schedule(rule: Any, fires: list[Any], id_key: str = "job_id") -> dict[str, Any]:
    return {
        id_key: rule.job_id,
        "scheduled": True,
        "expression": rule.expression,
        "type": rule.run_type,
        "enabled": rule.enabled,
        "next_fires": [f.isoformat() for f in fires],
    }


@logger.inject_lambda_context(clear_state=True)
@traced_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if (reason := too_large(event)) is not None:  # before Powertools parses it (a 5 MB body is 5 MB of JSON)
        logger.info("request refused", extra={"status": 413, "reason": reason})
        headers = {"Content-Type": content_types.APPLICATION_JSON}
        return {
            "statusCode": 413,
            "headers": headers,
            "body": json.dumps({"message": reason}),
            "isBase64Encoded": False,
        }
    return app.resolve(event, context)
