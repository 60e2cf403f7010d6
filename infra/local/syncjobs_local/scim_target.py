"""scim2-server (a real SCIM 2.0 server, in memory) as the local target system.

It runs as its own process, the `scim2-server` command, so the target has a core of its own as a real
one would, instead of sharing this process's interpreter lock with moto and the handlers. Each
`new_tenant()` gives an empty target under a new path (`--dynamic-tenants`), so tests start clean
without restarting the server. Its per-request log goes to /dev/null (a full pipe would block it).

It listens with a backlog of LISTEN_BACKLOG connections, as a production server does (nginx and
gunicorn take 511 and 2048; Linux caps it at net.core.somaxconn): the command's wsgiref server keeps
socketserver's 5, and it speaks HTTP/1.0 (a new connection per request), so more than a few clients at
once overflowed that queue: connections were reset or their SYN dropped and resent a second later. Seen
as "Connection reset by peer" in the bench's raw rates at concurrency 16, and as a run whose 16 writers
went at a third of the rate of 4 (a reset write waits out the job's retry delay).
"""

from __future__ import annotations

import itertools
import os
import secrets
import socket
import subprocess
import sys
import time

import httpx

LISTEN_BACKLOG = 128
# the `scim2-server` command (its cli.main), its server class given a production-sized listen backlog
# and its bearer token from the environment, not the command line (the process list shows every user
# of the machine a command line; a process's environment only to its owner)
_TOKEN_VARIABLE = "SYNCJOBS_LOCAL_SCIM_TOKEN"  # noqa: S105 - a variable's name
_SERVE = (
    "import os, sys; from scim2_server.testserver import cli; "
    f"cli.ThreadingWSGIServer.request_queue_size = {LISTEN_BACKLOG}; "
    f"sys.argv[0] = 'scim2-server'; sys.argv.append('--bearer-token=' + os.environ.pop('{_TOKEN_VARIABLE}')); "
    "sys.exit(cli.main())"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ScimServer:
    def __init__(self, token: str | None = None) -> None:
        self.token = token or secrets.token_urlsafe(24)
        self.port = _free_port()
        self._tenants = itertools.count(1)
        self.tenant = "t0"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return self.tenant_url(self.tenant)

    @property
    def origin(self) -> str:
        """Every tenant's URL is under this prefix (what a connector secret for it may be sent to)."""
        return f"http://127.0.0.1:{self.port}/"

    def tenant_url(self, tenant: str) -> str:
        """The base URL of any tenant (created on first use), e.g. a second service used as a source."""
        return f"http://127.0.0.1:{self.port}/{tenant}/v2"

    def start(self, timeout_s: float = 30.0) -> ScimServer:
        self._process = subprocess.Popen(  # noqa: S603 - fixed argv, our own virtualenv's interpreter
            [
                sys.executable,
                "-c",
                _SERVE,
                "--hostname",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dynamic-tenants",
            ],
            env={**os.environ, _TOKEN_VARIABLE: self.token},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"scim2-server exited with {self._process.returncode} on port {self.port}")
            try:
                response = httpx.get(
                    f"{self.url}/ServiceProviderConfig", timeout=2, headers={"Authorization": f"Bearer {self.token}"}
                )
                if response.status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"scim2-server did not answer on port {self.port} within {timeout_s:.0f}s")
            time.sleep(0.1)

    def new_tenant(self) -> str:
        """An empty target from now on; returns its base URL."""
        self.tenant = f"t{next(self._tenants)}"
        return self.url

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
