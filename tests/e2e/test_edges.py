"""Honest answers at the edges, over HTTP on the local stack: any malformed link token is a 403, an
oversized admin-API body a 413, and approving an expired request through the admin API a 410, as the
README says (none a 502 or a 409)."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import boto3
import httpx
import pytest

from syncjobs.admin.api_models import MAX_BODY_BYTES
from syncjobs.links import sign
from syncjobs.models.approval import ApprovalStatus
from syncjobs.store.approvals import ApprovalStore
from syncjobs_local.demo import prepare
from syncjobs_local.stack import LocalStack
from tests.integration.test_approval_sweep import pending

pytestmark = pytest.mark.e2e


def raw_get(url: str, path: bytes) -> tuple[int, str]:
    """GET `path` sent as these bytes, unencoded (what a browser or a proxy may pass on as it is)."""
    where = urlsplit(url)
    with socket.create_connection((where.hostname, where.port), timeout=30) as conn:
        conn.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: " + where.netloc.encode() + b"\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode("utf-8", "replace")


def valid_token(stack: LocalStack) -> str:
    assert stack.resources is not None
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=stack.resources.name("LinkSigningKey"))
    expires = datetime.now(UTC) + timedelta(hours=1)
    return sign(secret["SecretString"].encode(), "20261203T120000Z-abc", "created", expires)


@pytest.mark.parametrize(
    "damage",
    [
        lambda payload, mac: f"{payload}.{mac[:-1]}".encode() + b"\xff",  # a raw byte in the MAC
        lambda payload, mac: f"{payload}.{mac[:-2]}é".encode(),  # a raw UTF-8 letter in the MAC
        lambda payload, mac: f"{payload}.{mac[:-1]}%C3%A9".encode(),  # the same, percent-encoded
        lambda payload, mac: f"{payload}.{mac[:-1]}%FF".encode(),  # a byte that is no UTF-8, encoded
        lambda payload, mac: f"{payload[:-1]}".encode() + b"\xc3\xa9." + mac.encode(),  # in the payload
        lambda payload, mac: f"{payload}.{mac}%00".encode(),  # a NUL after the MAC
        lambda payload, mac: f"{payload}.{mac}.{mac}".encode(),  # a part too many
        lambda payload, mac: b"%ED%A0%80." + mac.encode(),  # a lone surrogate, encoded
        lambda payload, mac: f"{payload}.{mac}/more".encode(),  # a path below the token
        lambda payload, mac: f"{payload}.{mac}".encode() + b"\x80\x81",  # raw bytes after it
    ],
    ids=[
        "raw-byte-in-mac",
        "raw-utf8-in-mac",
        "encoded-utf8-in-mac",
        "encoded-non-utf8-byte",
        "raw-utf8-in-payload",
        "encoded-nul",
        "three-parts",
        "encoded-lone-surrogate",
        "path-below-token",
        "raw-bytes-after-token",
    ],
)
def test_a_malformed_link_token_is_refused_with_403(aws: LocalStack, damage) -> None:
    # Given a link token the links function signed, damaged in transit
    payload, _, mac = valid_token(aws).partition(".")
    url = aws.function_urls["LinksFunction"].url

    # When it is followed, sent as the bytes a client might send
    status, body = raw_get(url, b"/" + damage(payload, mac))

    # Then the answer is a 403 that says the link is not valid
    assert (status, "not valid" in body) == (403, True), body


def test_an_oversized_job_body_is_refused_with_413_and_one_at_the_limit_is_kept(aws: LocalStack) -> None:
    # Given a job and its definition as the API takes it
    prepared = prepare(aws, users=1, bad_rows=False)
    api, job_id = aws.admin_api_url, prepared.job_id
    document = {k: v for k, v in prepared.document.items() if k != "job_id"}

    # When a 450 KB job body is sent, it is refused as too large, naming the limit, and the job is as it was
    big = httpx.put(f"{api}/jobs/{job_id}", json={**document, "description": "x" * 450_000}, timeout=30)
    assert big.status_code == 413, big.text
    assert big.json()["message"].endswith("bytes; the admin API takes at most 262,144 bytes (256 KiB)")
    assert httpx.get(f"{api}/jobs/{job_id}").json()["definition"]["description"] == document.get("description", "")

    # And so is a collection's (before anything looks at it)
    huge = httpx.put(f"{api}/collections/c1", content=json.dumps({"name": "n" * 450_000}), timeout=30)
    assert huge.status_code == 413, huge.text

    # And a body just under the limit, of the widest UTF-8 letters, is applied and kept whole
    fill = MAX_BODY_BYTES - len(json.dumps({**document, "description": ""}, ensure_ascii=False).encode()) - 16
    wide = {**document, "description": "\U0001f600" * (fill // 4)}
    body = json.dumps(wide, ensure_ascii=False).encode()
    assert MAX_BODY_BYTES - 64 < len(body) <= MAX_BODY_BYTES
    kept = httpx.put(f"{api}/jobs/{job_id}", content=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert kept.status_code == 200, kept.text
    assert httpx.get(f"{api}/jobs/{job_id}").json()["definition"]["description"] == wide["description"]


def expired_request(approval_id: str, status: ApprovalStatus) -> None:
    """A request whose time has passed: still pending (nobody swept it yet) or already expired."""
    pending(approval_id, datetime.now(UTC) - timedelta(minutes=5))
    if status is ApprovalStatus.EXPIRED:
        fields = {"decided_via": "expiry"}
        assert ApprovalStore().transition(approval_id, ApprovalStatus.PENDING, ApprovalStatus.EXPIRED, fields)


@pytest.mark.parametrize("status", [ApprovalStatus.PENDING, ApprovalStatus.EXPIRED])
@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_deciding_an_expired_request_through_the_admin_api_is_410(aws: LocalStack, status, decision) -> None:
    # Given a request past its time
    expired_request("apr-late", status)

    # When an admin approves or rejects it through the API
    answer = httpx.post(f"{aws.admin_api_url}/approvals/apr-late/{decision}", timeout=30)

    # Then the answer is 410, saying it expired, and the request is expired with nothing started
    assert answer.status_code == 410, answer.text
    assert "expired" in answer.json()["message"]
    after = ApprovalStore().get("apr-late")
    assert (after.status, after.run_id) == (ApprovalStatus.EXPIRED, None)


def test_deciding_a_decided_request_through_the_admin_api_is_still_409(aws: LocalStack) -> None:
    expired_request("apr-done", ApprovalStatus.PENDING)
    store = ApprovalStore()
    store.transition("apr-done", ApprovalStatus.PENDING, ApprovalStatus.REJECTED, {"decided_by": "someone"})

    answer = httpx.post(f"{aws.admin_api_url}/approvals/apr-done/approve", timeout=30)

    assert answer.status_code == 409, answer.text
    assert "already rejected" in answer.json()["message"]
