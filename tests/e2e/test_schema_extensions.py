"""Schema extensions on the local stack: enterprise User attributes mapped by their URN-qualified paths
(RFC 7644 section 3.10) reach scim2-server, which declares that extension for Users; a validate run
fails each entity whose mapping uses a schema the target does not declare, naming the path."""

import json

import httpx
import pytest

from syncjobs.admin import operations
from syncjobs.connectors.scim import ScimTargetConnector
from syncjobs.models.job import RetryPolicy, ScimTarget
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import RunStatus
from syncjobs_local.demo import prepare, start, wait_for_run
from tests.e2e.helpers import log_rows, scim_users

pytestmark = pytest.mark.e2e

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CUSTOM = "urn:acme:params:scim:schemas:extension:Acme:1.0:Employee"


class Recording(httpx.HTTPTransport):
    """The real HTTP transport, keeping each request's method and JSON body."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, dict]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.content:
            self.sent.append((request.method, json.loads(request.content)))
        return super().handle_request(request)


def test_writes_name_each_extension_in_schemas_and_the_target_declares_enterprise_for_users_only(aws):
    # Given the connector to scim2-server, recording what it sends
    recording = Recording()
    target = ScimTargetConnector(
        ScimTarget(type="scim", base_url=aws.scim.url), aws.scim.token, RetryPolicy(), transport=recording
    )
    try:
        # When a user with an enterprise attribute is created, then updated without one
        written = target.create("users", {"userName": "ada@x", ENTERPRISE: {"department": "R&D"}})
        target.update("users", written.target_id, {"userName": "ada@x"})
        user_extensions, _ = target.schema_extensions("users")
        group_extensions, _ = target.schema_extensions("groups")
    finally:
        target.close()

    # Then each body's schemas are the core schema and the extensions it carries
    assert [(method, body["schemas"]) for method, body in recording.sent] == [
        ("POST", [CORE, ENTERPRISE]),
        ("PUT", [CORE]),
    ]
    # And the target declares the enterprise extension, with its attributes, for users and none for groups
    assert {a["name"] for a in user_extensions[ENTERPRISE.lower()]["attributes"]} >= {"department", "employeeNumber"}
    assert group_extensions == {}


def test_enterprise_attributes_are_provisioned_and_read_back_from_the_target(stack):
    # Given a job that maps the enterprise extension's department and employeeNumber
    prepared = prepare(stack, users=40, bad_rows=False, shard_size=25)
    document = prepared.document
    document["mapping"]["users"] |= {
        f"{ENTERPRISE}:department": "{{ department }}",
        f"{ENTERPRISE}:employeeNumber": "{{ employee_id }}",
    }
    operations.apply_job(operations.parse_job(document))

    # When a validate run checks it against the target's schemas, then a read run writes it
    validated = wait_for_run(start(stack, prepared.job_id, run_type="validate"), stack=stack)
    run = wait_for_run(start(stack, prepared.job_id), stack=stack)

    # Then the target declares everything the mapping writes
    assert validated.totals()[Outcome.FAILED] == 0
    # And every user in the target carries its department and employee number under the extension
    assert run.status is RunStatus.SUCCEEDED
    users = scim_users(stack)
    assert set(users) == set(prepared.export.valid)
    for employee_id, row in prepared.export.valid.items():
        user = users[employee_id]
        assert user[ENTERPRISE] == {"department": row["department"], "employeeNumber": employee_id}
        assert set(user["schemas"]) == {CORE, ENTERPRISE}


def test_validate_fails_each_entity_that_uses_a_schema_the_target_does_not_declare(stack):
    # Given a job that maps an attribute of a custom schema scim2-server does not declare
    prepared = prepare(stack, users=20, bad_rows=False, shard_size=25)
    document = prepared.document
    document["mapping"]["users"] |= {f"{CUSTOM}:costCenter": "{{ department }}"}
    operations.apply_job(operations.parse_job(document))

    # When a validate run checks it
    run = wait_for_run(start(stack, prepared.job_id, run_type="validate"), stack=stack)

    # Then each entity fails, naming the undeclared path, and nothing is written
    assert run.status is RunStatus.FINISHED_WITH_ERRORS
    assert run.totals()[Outcome.FAILED] == 20
    reasons = {r["reason"] for r in log_rows(stack, run.log_keys["failed"])}
    assert reasons == {
        f"schema: {CUSTOM}:costCenter: the target does not declare the schema {CUSTOM} for this resource type"
    }
    assert scim_users(stack) == {}
