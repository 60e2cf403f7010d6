"""Fixtures of the e2e tests that need more than the local stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syncjobs_local.peer import Behaviour, PeerProxy
from syncjobs_local.stack import LocalStack


@pytest.fixture
def peer(stack: LocalStack) -> Iterator[PeerProxy]:
    """A SCIM peer (syncjobs_local.peer) in front of the stack's SCIM server, behaving plainly until a
    test sets `peer.behaviour`."""
    assert stack.scim is not None
    proxy = PeerProxy(f"http://127.0.0.1:{stack.scim.port}", Behaviour()).start()
    yield proxy
    proxy.stop()
