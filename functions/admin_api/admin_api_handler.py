"""admin_api: API Gateway (IAM auth) -> admin operations, JSON in and out."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from syncjobs.admin import operations
from syncjobs.observability import logger, metrics, tracer
from syncjobs.store.errors import Conflict, NotFound

app = APIGatewayRestResolver()


@app.exception_handler(NotFound)
def _not_found(err: NotFound) -> Response[Any]:
    return Response(status_code=404, content_type=content_types.APPLICATION_JSON, body={"message": str(err)})


@app.exception_handler(Conflict)
def _conflict(err: Conflict) -> Response[Any]:
    return Response(status_code=409, content_type=content_types.APPLICATION_JSON, body={"message": str(err)})


@app.exception_handler(operations.InvalidInput)
def _invalid(err: operations.InvalidInput) -> Response[Any]:
    return Response(
        status_code=422,
        content_type=content_types.APPLICATION_JSON,
        body={"message": "invalid input", "problems": err.problems},
    )


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


@app.delete("/jobs/<job_id>")
def delete_job(job_id: str) -> dict[str, Any]:
    operations.delete_job(job_id)
    return {"job_id": job_id, "deleted": True}


@app.get("/runs/<run_id>/logs/<outcome>")
def get_log(run_id: str, outcome: str) -> Response[str]:
    """302 to the log presigned for 5 minutes."""
    url = operations.log_url(run_id, outcome)
    return Response(302, "text/plain", "", headers={"Location": url, "Cache-Control": "no-store"})


@app.put("/jobs/<job_id>")
def put_job(job_id: str) -> dict[str, Any]:
    document = app.current_event.json_body or {}
    definition = operations.parse_job({**document, "job_id": job_id} if isinstance(document, dict) else document)
    return {"job_id": job_id, "version": operations.apply_job(definition)}


@app.post("/jobs/<job_id>/trace-next-run")
def trace_next_run(job_id: str) -> dict[str, Any]:
    body = app.current_event.json_body or {}
    outcomes = body.get("outcomes") if isinstance(body, dict) else None
    if not isinstance(outcomes, list) or not all(isinstance(o, str) for o in outcomes):
        raise operations.InvalidInput("trace request", ["outcomes: must be a list of outcome names"])
    operations.trace_next_run(job_id, outcomes)
    return {"job_id": job_id, "trace_next_run": sorted(set(outcomes))}


@app.get("/jobs/<job_id>/subscribers")
def list_subscribers(job_id: str) -> dict[str, Any]:
    return {"subscribers": [s.model_dump(mode="json") for s in operations.subscribers(job_id)]}


@app.put("/jobs/<job_id>/subscribers/<email>")
def subscribe(job_id: str, email: str) -> dict[str, Any]:
    """Subscribe a person or a distribution list; body {"trigger": "default" | "always" | ...}."""
    body = app.current_event.json_body or {}
    trigger = body.get("trigger", "default") if isinstance(body, dict) else body
    return operations.subscribe(job_id, unquote(email), trigger).model_dump(mode="json")


@app.delete("/jobs/<job_id>/subscribers/<email>")
def unsubscribe(job_id: str, email: str) -> dict[str, Any]:
    operations.unsubscribe(job_id, unquote(email))
    return {"job_id": job_id, "email": unquote(email), "subscribed": False}


@app.put("/jobs/<job_id>/schedule")
def set_schedule(job_id: str) -> dict[str, Any]:
    """Body {"expression": "rate(1 hour)" | "cron(0 8 ? * MON-FRI *)", "type": "read"}."""
    body = app.current_event.json_body or {}
    if not isinstance(body, dict) or not isinstance(body.get("expression"), str):
        raise operations.InvalidInput("schedule", ["expression: is required, a rate(...) or cron(...) expression"])
    rule = operations.set_schedule(job_id, body["expression"], str(body.get("type", "read")))
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


def _schedule(rule: Any, fires: list[Any]) -> dict[str, Any]:
    return {
        "job_id": rule.job_id,
        "scheduled": True,
        "expression": rule.expression,
        "type": rule.run_type,
        "enabled": rule.enabled,
        "next_fires": [f.isoformat() for f in fires],
    }


@app.get("/jobs/<job_id>/runs")
def list_runs(job_id: str) -> dict[str, Any]:
    return {"runs": [run.model_dump(mode="json") for run in operations.list_runs(job_id)]}


@app.post("/jobs/<job_id>/runs")
def request_run(job_id: str) -> Response[Any]:
    """Start a run now: body {"type": "read" | "resync" | "simulate" | "validate"}. An Idempotency-Key
    header makes a retried request name the same run (202 either way: start_run runs asynchronously)."""
    body = app.current_event.json_body or {}
    run_type = body.get("type", "read") if isinstance(body, dict) else body
    request_id = app.current_event.headers.get("Idempotency-Key") or app.current_event.request_context.request_id
    run_id = operations.request_run(job_id, run_type, _caller(), "api", f"api:{request_id}")
    return Response(202, content_types.APPLICATION_JSON, {"run_id": run_id, "job_id": job_id})


def _caller() -> str:
    return app.current_event.request_context.identity.user_arn or "unknown IAM caller"


@app.post("/runs/<run_id>/stop")
def stop_run(run_id: str) -> dict[str, Any]:
    return operations.stop_run(run_id, _caller()).model_dump(mode="json")


@app.get("/runs/<run_id>")
def get_run(run_id: str) -> dict[str, Any]:
    run = operations.get_run(run_id)
    notes = operations.run_notifications(run_id)
    return {**run.model_dump(mode="json"), "notifications": [n.__dict__ for n in notes]}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
