"""Where a connector secret may be sent (engine/destinations.py) and how a peer's answer is quoted."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from syncjobs.connectors.scim_http import PEER_REASON_CHARS, peer_reason
from syncjobs.engine.destinations import destination_problem, parse_destinations, under

SECRET = "syncjobs/app-token"
ALLOWED = ("https://scim.example.com/v2/",)


@pytest.mark.parametrize(
    ("url", "prefix", "expected"),
    [
        ("https://scim.example.com/v2/Users", "https://scim.example.com/v2/", True),
        ("https://scim.example.com/v2", "https://scim.example.com/v2", True),
        ("https://SCIM.example.com:443/v2/x", "https://scim.example.com/v2", True),
        ("https://scim.example.com/v2x", "https://scim.example.com/v2", False),
        ("https://scim.example.com/v1/Users", "https://scim.example.com/v2/", False),
        ("https://scim.example.com.evil.net/v2", "https://scim.example.com/", False),
        ("https://scim.example.com:8443/v2", "https://scim.example.com/", False),
        ("http://scim.example.com/v2", "https://scim.example.com/", False),
        ("https://user:pw@scim.example.com/v2", "https://scim.example.com/", False),
        ("http://127.0.0.1:8080/t0/v2", "http://127.0.0.1:8080/", True),
        ("http://127.0.0.1:9999/t0/v2", "http://127.0.0.1:8080/", False),
        ("https://scim.good.com/tenants/a/scim/../../b/scim", "https://scim.good.com/tenants/a/scim", False),
        ("https://scim.good.com/tenants/a/scim/%2e%2e/%2e%2e/b", "https://scim.good.com/tenants/a/scim", False),
        ("https://scim.good.com/tenants/a/scim/..%2f..%2fb", "https://scim.good.com/tenants/a/scim", False),
        ("https://scim.good.com/tenants/a/scim/.", "https://scim.good.com/tenants/a/scim", False),
        ("https://scim.good.com/tenants/a/scim?x=1", "https://scim.good.com/tenants/a/scim", False),
        ("https://scim.good.com/tenants/a/scim#x", "https://scim.good.com/tenants/a/scim", False),
        ("https://scim.good.com/tenants/a/scim\\..\\b", "https://scim.good.com/tenants/a/scim", False),
        ("https://scim.good.com/tenants/a/scim/v2.1", "https://scim.good.com/tenants/a/scim", True),
    ],
)
def test_a_url_is_under_a_prefix_only_with_the_same_origin_and_a_path_below_it(url, prefix, expected):
    assert under(url, prefix) is expected


@pytest.mark.parametrize(
    ("url", "destinations", "loopback_http", "expected"),
    [
        ("https://scim.example.com/v2", ALLOWED, False, None),
        ("https://listener.example.net/v2", ALLOWED, False, "may be sent only to https://scim.example.com/v2/"),
        ("https://scim.example.com/v2", (), False, "declares no destinations: tag it syncjobs:destinations"),
        ("http://scim.example.com/v2", ("http://scim.example.com/",), False, "is not https"),
        ("http://127.0.0.1:8080/t0/v2", ("http://127.0.0.1:8080/",), False, "is not https"),
        ("http://127.0.0.1:8080/t0/v2", ("http://127.0.0.1:8080/",), True, None),
        ("http://10.0.0.5:8080/v2", ("http://10.0.0.5:8080/",), True, "is not https"),
        ("http://127.0.0.1:9999/v2", ("http://127.0.0.1:8080/",), True, "is not under them"),
        ("ftp://scim.example.com/v2", ALLOWED, False, "is not a plain http(s) URL"),
    ],
)
def test_a_secret_goes_only_over_https_to_where_it_declares(url, destinations, loopback_http, expected):
    # Given a secret's declared destinations; When a job's target URL is checked; Then a refusal names why
    found = destination_problem("target.base_url", SECRET, url, destinations, loopback_http)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith("target.base_url: ")
        assert expected in found


def test_the_tag_lists_prefixes_separated_by_spaces():
    assert parse_destinations(" https://a.example.com/  https://b.example.com/scim ") == (
        "https://a.example.com/",
        "https://b.example.com/scim",
    )


def test_a_peer_answer_is_quoted_as_one_short_printable_line():
    answer = "line one\r\n\tline two \x1b[31mred\x00" + "x" * 500
    quoted = peer_reason(answer)
    assert quoted.startswith("line one line two [31mred x")
    assert len(quoted) == PEER_REASON_CHARS
    assert quoted.endswith("…")
    assert all(c.isprintable() for c in quoted)


def test_a_secret_whose_destinations_cannot_be_read_is_never_read_or_sent(monkeypatch):
    # Given a job whose target's secret cannot have its tags read (AccessDenied on DescribeSecret)
    from syncjobs.connectors import registry
    from syncjobs.store.errors import StoreError
    from syncjobs.workflows import preflight
    from tests.unit.test_preflight import job

    def refused(name: str) -> tuple[str, ...]:
        raise StoreError(f"looking up the destinations of {name}: AccessDeniedException")

    def read(name: str) -> str:
        raise AssertionError("the secret was read")

    monkeypatch.setattr(registry, "secret_destinations", refused)
    monkeypatch.setattr(preflight, "get_secret", read)
    monkeypatch.setattr(preflight, "_export_problems", lambda *args: [])
    settings = SimpleNamespace(secrets_prefix="syncjobs/", loopback_http=False)
    monkeypatch.setattr(preflight, "get_settings", lambda: settings)
    monkeypatch.setattr(registry, "get_settings", lambda: settings)

    # When the run's preflight looks at it; Then it fails closed, naming the field, and nothing is read
    problems = preflight.start_problems(job(), preflight.RunType.READ)
    assert problems == [
        "target.base_url: the destinations of secret 'syncjobs/t' cannot be read (looking up the destinations of "
        "syncjobs/t: AccessDeniedException): it is not sent"
    ]
