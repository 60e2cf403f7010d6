"""X-Ray traces hold no data: real handlers, traced the way Lambda traces them, send their segments
to a UDP socket this test listens on (the X-Ray daemon's place); none holds a token, an address or a
signature, though the requests, answers and errors they traced did."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from syncjobs.observability import WITHHELD

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


class Daemon:
    """Stands in for the X-Ray daemon: keeps every UDP document sent to it."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.documents: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="xray-daemon", daemon=True)

    @property
    def address(self) -> str:
        host, port = self.socket.getsockname()
        return f"{host}:{port}"

    def __enter__(self) -> Daemon:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close()

    def _receive(self) -> None:
        while True:
            try:
                self.documents.append(self.socket.recv(65536).decode("utf-8"))
            except TimeoutError:
                if self._stop.is_set():  # and nothing arrived for 0.2 s: the queue is drained
                    return


def traced_environment(daemon: str) -> dict[str, str]:
    """This process's environment as Lambda's, tracing on: a sampled trace id, the daemon's address."""
    env = {k: v for k, v in os.environ.items() if k not in {"POWERTOOLS_TRACE_DISABLED", "AWS_XRAY_SDK_ENABLED"}}
    trace_id = f"1-{secrets.token_hex(4)}-{secrets.token_hex(12)}"
    env.update(
        {
            "LAMBDA_TASK_ROOT": str(ROOT),
            "AWS_LAMBDA_FUNCTION_NAME": "syncjobs-traced",
            "_X_AMZN_TRACE_ID": f"Root={trace_id};Parent={secrets.token_hex(8)};Sampled=1",
            "AWS_XRAY_DAEMON_ADDRESS": daemon,
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        }
    )
    return env


def entity(document: str) -> dict[str, Any]:
    header, _, body = document.partition("\n")
    assert json.loads(header) == {"format": "json", "version": 1}
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def test_traces_hold_no_token_address_or_signature() -> None:
    # Given real handlers traced as on Lambda, sending to a daemon this test listens on
    with Daemon() as daemon:
        # When a run runs, the links function serves a download link and a run page, the admin API a
        # run page, a job and a presigned log URL, and a handler fails with an address in its error
        done = subprocess.run(
            [sys.executable, "-m", "tests.e2e.trace_scenario"],
            cwd=ROOT,
            env=traced_environment(daemon.address),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-4000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    # (the traced requests and answers did hold them)
    answers = seen["answers"]
    assert seen["run_status"] == "succeeded"
    assert answers["download"][0] == 302
    assert "X-Amz-Signature=" in answers["download"][1]
    assert answers["log_url"][0] == 302
    assert "X-Amz-Signature=" in answers["log_url"][1]
    assert answers["link_page"][0] == answers["api_page"][0] == answers["job"][0] == 200
    assert "it-admins@example.com" in answers["api_page"][1]  # the mail's recipient
    assert any(address in answers["job"][1] for address in seen["addresses"])
    assert "alice.failing@example.com" in seen["failure"]
    assert "bob.refused@example.com" in seen["aws_failure"]
    assert len(seen["secrets"]) >= 6

    # Then segments arrived: each handler's and the AWS calls'
    entities = [entity(d) for d in daemon.documents]
    handlers = [e for e in entities if e.get("name") == "## lambda_handler"]
    assert len(handlers) >= 8, [e.get("name") for e in entities]
    assert any(e.get("namespace") == "aws" for e in entities)

    # And none holds a token, a signature or an address
    for document in daemon.documents:
        unescaped = json.dumps(json.loads(document.partition("\n")[2]), ensure_ascii=False)
        for text in (document, unescaped):
            assert _ADDRESS.search(text) is None, text
            assert not [s for s in seen["secrets"] if s in text], text
            assert not [a for a in seen["addresses"] if a in text], text

    # And the failures are there as their types and stacks, their messages withheld
    failed = [e for e in handlers if e.get("fault")]
    assert len(failed) == 1, failed
    (cause,) = failed[0]["cause"]["exceptions"]
    assert (cause["type"], cause["message"]) == ("ValidationError", WITHHELD)
    assert "start_run_handler.py" in {frame["path"] for frame in cause["stack"]}
    refused = [e for e in entities if e.get("aws", {}).get("operation") == "SendEmail" and e.get("cause")]
    assert [e["cause"]["exceptions"][0]["message"] for e in refused] == [WITHHELD], refused
