"""The admin API's body limit: a body is measured as the client sent it, and refused only past the limit."""

import base64

import pytest

from syncjobs.admin.api_models import MAX_BODY_BYTES, body_bytes, too_large

LIMIT = "the admin API takes at most 262,144 bytes (256 KiB)"


def event(body: str | None, encoded: bool = False) -> dict:
    return {"body": body, "isBase64Encoded": encoded}


@pytest.mark.parametrize(
    ("request_event", "size"),
    [
        (event(None), 0),
        (event(""), 0),
        (event('{"name": "x"}'), 13),
        (event("é" * 10), 20),  # UTF-8 bytes, not characters
        (event("\U0001f600" * 10), 40),
        (event(base64.b64encode(b"x" * 300).decode(), encoded=True), 300),
    ],
)
def test_a_body_is_measured_in_the_bytes_sent(request_event, size):
    assert body_bytes(request_event) == size


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        ("x" * MAX_BODY_BYTES, None),
        (
            "x" * (MAX_BODY_BYTES + 1),
            f"the request body is 262,145 bytes; {LIMIT}",
        ),
        (
            "é" * (MAX_BODY_BYTES // 2 + 1),
            f"the request body is 262,146 bytes; {LIMIT}",
        ),
        ("x" * 450_000, f"the request body is 450,000 bytes; {LIMIT}"),
    ],
)
def test_a_body_past_the_limit_is_refused_with_its_size_and_the_limit(body, refused):
    assert too_large(event(body)) == refused
