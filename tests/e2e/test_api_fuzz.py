"""schemathesis fuzzes the admin API from its committed OpenAPI document, over HTTP, through the real
handler on the local stack: never a 5xx, and every 4xx says what was wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from syncjobs_local.demo import prepare

pytestmark = pytest.mark.e2e

DOCUMENT = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="module")
def admin_api(_session_stack):
    _session_stack.reset(pollers=False)
    prepare(_session_stack, users=3, bad_rows=False)  # a job (hr-to-scim) for the generated ids to hit or miss
    return _session_stack.admin_api_url


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_admin_api_never_fails_and_explains_every_refusal(case, admin_api):
    response = case.call(base_url=admin_api, timeout=30)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    if 400 <= response.status_code < 500:
        body = response.json()
        assert body.get("message"), f"{case.method} {case.formatted_path}: a {response.status_code} without a message"
        if response.status_code == 422:
            assert body["problems"], body
            assert all(": " in problem for problem in body["problems"]), body
