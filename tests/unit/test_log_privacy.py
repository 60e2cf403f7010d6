"""Log lines carry no e-mail addresses (approvers, user names), whatever the message quotes."""

import pytest

from syncjobs.observability import without_addresses


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("already approved by approver@example.com at 10:00", "already approved by <address> at 10:00"),
        (
            'lookup of userName "jane.doe@corp.example" failed: HTTP 401',
            'lookup of userName "<address>" failed: HTTP 401',
        ),
        ("run 20261121T1-ab no longer exists", "run 20261121T1-ab no longer exists"),
        ("a@b.c, d@e.f", "<address>, <address>"),
    ],
)
def test_addresses_are_replaced_and_the_rest_is_kept(text: str, expected: str) -> None:
    assert without_addresses(text) == expected
