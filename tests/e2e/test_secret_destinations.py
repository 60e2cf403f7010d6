"""A connector secret goes only where it declares (its syncjobs:destinations tag): a job pointing its
target at a listener of its own is refused when applied, and a run of such a job (stored before the
check, or the tag narrowed since) fails at start without reading the secret: the listener receives
nothing, let alone the token."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from syncjobs.admin import operations
from syncjobs.models.run import RunStatus
from syncjobs.store.jobs import JobStore
from syncjobs_local.demo import SECRET_NAME, prepare, start, wait_for_run
from syncjobs_local.stack import LocalStack

pytestmark = pytest.mark.e2e


class Listener(http.server.ThreadingHTTPServer):
    """A plain-http server on loopback that records every request's Authorization header."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        listener = self

        class Record(http.server.BaseHTTPRequestHandler):
            def _any(self) -> None:
                listener.seen.append(self.headers.get("Authorization", ""))
                self.send_response(200)
                self.send_header("Content-Type", "application/scim+json")
                self.end_headers()
                self.wfile.write(b'{"totalResults": 0, "Resources": []}')

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Record)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_job_cannot_send_its_secret_to_a_url_the_secret_does_not_declare(stack: LocalStack, listener: Listener):
    # Given the demo job, whose secret may go to the local SCIM server only
    assert stack.scim is not None
    prepared = prepare(stack, users=5, bad_rows=False, subscriber=None)
    document = prepared.document
    document["target"]["base_url"] = f"{listener.url}/scim/v2"

    # When an admin applies it pointed at a listener of their own
    with pytest.raises(operations.InvalidInput) as refused:
        operations.apply_job(operations.parse_job(document))

    # Then it is refused, naming the field, the secret and where it may go
    (problem,) = [p for p in refused.value.problems if p.startswith("target.base_url")]
    assert f"secret '{SECRET_NAME}' may be sent only to {stack.scim.origin}" in problem
    assert listener.url in problem

    # When such a job is in the store anyway (stored before the check, or its secret's tag narrowed
    # since) and a run of it starts
    JobStore().put(operations.parse_job(document))
    run = wait_for_run(start(stack, prepared.job_id), stack=stack)

    # Then the run fails at start with the reason, and the listener never heard from it
    assert run.status is RunStatus.FAILED
    assert "target.base_url" in (run.reason or "")
    assert "may be sent only to" in (run.reason or "")
    assert listener.seen == []
