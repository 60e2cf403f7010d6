"""schemathesis fuzzes the admin API from its committed OpenAPI document, over HTTP, through the real
handler on the local stack, and validates every answer against that document: never a 5xx, only the
status codes and content types an operation documents, every body (success or refusal) of its documented
schema, and every refusal explains itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from syncjobs_local.demo import prepare
from tests.e2e.helpers import wait_until

pytestmark = pytest.mark.e2e

APPROVER = "approver@example.com"
NIGHTLY = {"name": "Nightly", "steps": [{"job_id": "hr-to-scim"}], "notification": {"recipients": [APPROVER]}}
DOCUMENT = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
schema = schemathesis.openapi.from_dict(DOCUMENT)

# What an answer must be, whatever was asked. Left out of schemathesis' full set: the checks that expect
# a well-formed request to succeed (positive_data_acceptance): the generated ids mostly name no job, run or
# approval, so 404 is the right answer; and those that send extra requests of their own (stateful and
# auth checks: the local stack's function URL has no auth, API Gateway's IAM auth is not here to test).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def admin_api(_session_stack):
    _session_stack.reset(pollers=False)
    prepare(_session_stack, users=3, bad_rows=False)  # a job (hr-to-scim) for the generated ids to hit or miss
    return _session_stack.admin_api_url


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_of_the_admin_api_is_the_one_its_document_describes(case, admin_api):
    response = case.call_and_validate(base_url=admin_api, checks=CHECKS, timeout=30, allow_redirects=False)
    if 400 <= response.status_code < 500:
        body = response.json()
        assert body["message"], f"{case.method} {case.formatted_path}: a {response.status_code} without a message"
        if response.status_code in (415, 422):
            assert all(": " in problem for problem in body["problems"]), body


class Tour:
    """Real requests with real ids, each answer validated against the document like a generated one; it
    remembers which operations answered with success."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.succeeded: set[str] = set()

    def call(self, method: str, path: str, expected: int | set[int], body: object = NOT_SET, **parts: Any) -> Any:
        headers = parts.pop("headers", None)
        case = schema[path][method].Case(path_parameters=parts, body=body, headers=headers)
        response = case.call_and_validate(base_url=self.base_url, checks=CHECKS, timeout=30, allow_redirects=False)
        assert response.status_code in ({expected} if isinstance(expected, int) else expected), (
            f"{method} {case.formatted_path}: {response.status_code} {response.text}"
        )
        if response.status_code < 400:
            self.succeeded.add(f"{method} {path}")
        content_type = {name.lower(): values for name, values in response.headers.items()}.get("content-type", [""])
        return response.json() if content_type[0].startswith("application/json") else None

    def status(self, path: str, **ids: str) -> str | None:
        """The `status` of a run, collection run or approval request (None while it is not there yet)."""
        return requests.get(self.base_url + path.format(**ids), timeout=30).json().get("status")


ENDED = {"stopped", "succeeded", "finished_with_errors", "failed", "skipped"}


def test_every_operation_answers_real_requests_as_its_document_describes(stack):
    # Given a job on the local stack with its pollers running, and a job that needs approval
    tour = Tour(stack.admin_api_url)
    job = prepare(stack, users=3, bad_rows=False)
    gated = prepare(
        stack, users=3, bad_rows=False, job_id="gated", approval={"required": True, "approvers": [APPROVER]}
    )
    job_id = job.job_id

    # When every operation is called with ids that exist, then every answer is the document's
    tour.call("GET", "/jobs", 200)
    tour.call("GET", "/jobs/{job_id}", 200, job_id=job_id)
    tour.call("PUT", "/jobs/{job_id}", 200, body=job.document, job_id=job_id)
    tour.call("POST", "/jobs/{job_id}/trace-next-run", 200, body={"outcomes": ["failed"]}, job_id=job_id)
    tour.call("PUT", "/jobs/{job_id}/subscribers/{email}", 200, {"trigger": "errors"}, job_id=job_id, email=APPROVER)
    tour.call("GET", "/jobs/{job_id}/subscribers", 200, job_id=job_id)
    tour.call("DELETE", "/jobs/{job_id}/subscribers/{email}", 200, job_id=job_id, email=APPROVER)
    for kind, id_ in (("jobs", {"job_id": job_id}), ("collections", {"collection_id": "nightly"})):
        if kind == "collections":
            tour.call("PUT", "/collections/{collection_id}", 200, body=NIGHTLY, **id_)
        path = f"/{kind}/{{{next(iter(id_))}}}/schedule"
        tour.call("PUT", path, 200, body={"expression": "rate(1 day)"}, **id_)
        assert tour.call("GET", path, 200, **id_)["scheduled"] is True
        tour.call("DELETE", path, 200, **id_)
        assert tour.call("GET", path, 200, **id_)["scheduled"] is False

    run_id = tour.call("POST", "/jobs/{job_id}/runs", 202, body={"type": "read"}, job_id=job_id)["run_id"]
    wait_until(lambda: tour.status("/runs/{id}", id=run_id) in ENDED, f"run {run_id} ended")
    tour.call("GET", "/runs/{run_id}", 200, run_id=run_id)
    tour.call("GET", "/runs/{run_id}", 200, headers={"Accept": "text/html"}, run_id=run_id)
    tour.call("GET", "/jobs/{job_id}/runs", 200, job_id=job_id)
    tour.call("GET", "/runs/{run_id}/logs/{outcome}", 302, run_id=run_id, outcome="created")
    tour.call("POST", "/runs/{run_id}/stop", 409, run_id=run_id)  # over: a stop of a running run races it
    tour.call("POST", "/jobs/{job_id}/restart", 200, job_id=job_id)
    entity_id = sorted(job.export.valid)[0]
    provision = "/jobs/{job_id}/provision"
    assert tour.call("POST", provision, 200, body={"id": entity_id}, job_id=job_id)["outcome"] == "skipped"
    tour.call("POST", provision, 404, body={"id": "E999999", "entity_type": "users"}, job_id=job_id)
    tour.call("POST", provision, 409, body={"id": entity_id}, job_id=gated.job_id)  # it requires approval

    tour.call("GET", "/collections", 200)
    tour.call("GET", "/collections/{collection_id}", 200, collection_id="nightly")
    answer = tour.call(
        "POST", "/collections/{collection_id}/runs", 202, body={"type": "simulate"}, collection_id="nightly"
    )
    crun_id = answer["collection_run_id"]
    wait_until(lambda: tour.status("/collection-runs/{id}", id=crun_id) in ENDED, f"collection run {crun_id} ended")
    tour.call("GET", "/collection-runs/{collection_run_id}", 200, collection_run_id=crun_id)
    tour.call("GET", "/collections/{collection_id}/runs", 200, collection_id="nightly")
    tour.call("POST", "/collection-runs/{collection_run_id}/stop", 409, collection_run_id=crun_id)
    tour.call("DELETE", "/collections/{collection_id}", 200, collection_id="nightly")

    approval_id = tour.call("POST", "/jobs/{job_id}/runs", 202, body={}, job_id=gated.job_id)["approval_id"]
    wait_until(lambda: tour.status("/approvals/{id}", id=approval_id) == "pending", "the preview is ready")
    tour.call("GET", "/approvals", 200)
    tour.call("GET", "/approvals/{approval_id}", 200, approval_id=approval_id)
    tour.call("POST", "/approvals/{approval_id}/approve", 403, approval_id=approval_id)  # its own requester
    tour.call("POST", "/approvals/{approval_id}/reject", 200, approval_id=approval_id)
    tour.call("DELETE", "/jobs/{job_id}", 200, job_id=gated.job_id)
    tour.call("DELETE", "/jobs/{job_id}", 200, job_id=job_id)

    # Then every operation but the two stops and the self-approval answered with success at least once
    operations = {f"{method.upper()} {path}" for path, item in DOCUMENT["paths"].items() for method in item}
    refused = {
        "POST /runs/{run_id}/stop",
        "POST /collection-runs/{collection_run_id}/stop",
        "POST /approvals/{approval_id}/approve",
    }
    assert operations - tour.succeeded == refused
