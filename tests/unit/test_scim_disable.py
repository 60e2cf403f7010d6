"""Disable mode's call to a SCIM target: PATCH op replace, path active, value false (RFC 7644 3.5.2)."""

import json

import httpx
import pytest

from syncjobs.connectors.base import TargetError
from syncjobs.connectors.scim import ScimTargetConnector
from syncjobs.connectors.scim_members import PATCH_OP
from syncjobs.models.job import RetryPolicy, ScimTarget


def connector(status: int, calls: list[httpx.Request]) -> ScimTargetConnector:
    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(status, json={"id": "u-1", "active": False} if status == 200 else {"detail": "no"})

    config = ScimTarget(type="scim", base_url="https://scim.example/v2")
    return ScimTargetConnector(config, "t0ken", RetryPolicy(retries=0), transport=httpx.MockTransport(answer))


@pytest.mark.parametrize("status", [200, 204, 404])
def test_disable_patches_active_false_and_a_gone_user_is_as_good(status):
    # Given a target that answers the PATCH with `status`
    calls: list[httpx.Request] = []
    # When a user is disabled
    connector(status, calls).disable("users", "u-1")
    # Then one PATCH of /Users/u-1 replaced active with false
    (request,) = calls
    assert (request.method, request.url.path) == ("PATCH", "/v2/Users/u-1")
    assert json.loads(request.content) == {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }


def test_a_refused_disable_is_a_target_error_naming_the_call():
    calls: list[httpx.Request] = []
    with pytest.raises(TargetError) as raised:
        connector(400, calls).disable("users", "u-1")
    assert "disable" in str(raised.value)
