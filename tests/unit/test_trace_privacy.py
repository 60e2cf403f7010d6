"""What a trace keeps of a handler's error: its type name, never its message."""

import pytest

from syncjobs.links import LinkRefused
from syncjobs.observability import withheld


@pytest.mark.parametrize(
    "error",
    [
        ValueError("no user alice@example.com"),
        LinkRefused("approval request apr-1 was already approved by bob@example.com", 409),
        KeyError("https://bucket.s3.amazonaws.com/log?X-Amz-Signature=abc123"),
    ],
)
def test_an_error_keeps_its_type_name_and_loses_its_message(error):
    kept = withheld(error)
    assert type(kept).__name__ == type(error).__name__
    assert "@" not in str(kept)
    assert "abc123" not in str(kept)
    assert "withheld" in str(kept)
