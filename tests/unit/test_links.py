"""Signed download-link tokens: accepted until they expire, refused when changed or made with another key."""

from datetime import UTC, datetime, timedelta

import pytest

from syncjobs.links import UNSUBSCRIBE, LinkRefused, sign, verify
from syncjobs.models.outcome import Outcome

KEY = b"k" * 64
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=7)
TOKEN = sign(KEY, "20261121T120000Z-abc", Outcome.FAILED, EXPIRES)


def flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


def test_a_token_names_its_run_outcome_and_expiry():
    claim = verify(KEY, TOKEN, NOW)
    assert (claim.run_id, claim.outcome, claim.expires_at) == ("20261121T120000Z-abc", Outcome.FAILED, EXPIRES)
    assert TOKEN.replace("-", "").replace("_", "").replace(".", "").isalnum()  # safe in a URL path


@pytest.mark.parametrize(
    ("token", "key", "now", "status", "words"),
    [
        (TOKEN, KEY, EXPIRES, 410, "expired at 2026-11-28 12:00 UTC"),
        (TOKEN, KEY, EXPIRES + timedelta(days=30), 410, "expired"),
        (TOKEN, b"another key", NOW, 403, "not valid"),
        (flip(TOKEN, 3), KEY, NOW, 403, "not valid"),  # payload changed (another run or a later expiry)
        (flip(TOKEN, len(TOKEN) - 2), KEY, NOW, 403, "not valid"),  # signature changed
        (TOKEN.split(".")[0], KEY, NOW, 403, "not valid"),  # no signature
        ("", KEY, NOW, 403, "not valid"),
        ("....", KEY, NOW, 403, "not valid"),
        (TOKEN[:-1] + "\xff", KEY, NOW, 403, "not valid"),  # a raw byte in the MAC, as latin-1 decodes it
        (TOKEN[:-1] + "é", KEY, NOW, 403, "not valid"),  # a letter beyond ASCII in the MAC
        ("é" + TOKEN, KEY, NOW, 403, "not valid"),  # in the payload
        (TOKEN + "\udc80", KEY, NOW, 403, "not valid"),  # a lone surrogate (surrogateescape'd byte)
        (TOKEN + "\x00", KEY, NOW, 403, "not valid"),
    ],
)
def test_links_are_refused_with_the_reason(token, key, now, status, words):
    with pytest.raises(LinkRefused) as refused:
        verify(key, token, now)
    assert refused.value.status == status
    assert words in refused.value.reason


def test_an_unsubscribe_token_names_the_job_and_the_subscriber():
    # Given the unsubscribe link of a job's mail to one subscriber
    token = sign(KEY, "hr-to-scim", UNSUBSCRIBE, EXPIRES, "ops@example.com")
    # Then it names the job and the subscriber, and a change to either is refused
    claim = verify(KEY, token, NOW)
    assert (claim.run_id, claim.target, claim.who) == ("hr-to-scim", UNSUBSCRIBE, "ops@example.com")
    with pytest.raises(LinkRefused):
        verify(KEY, flip(token, 5), NOW)
