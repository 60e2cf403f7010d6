"""A threaded HTTP server on a free local port that hands every request, whatever its method, to one
function: what the local fronts of Lambda (function URLs, API Gateway, the Invoke API) are built on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Serve = Callable[[BaseHTTPRequestHandler], None]


class LocalHttpServer:
    def __init__(self, name: str, serve: Serve) -> None:
        class Handler(BaseHTTPRequestHandler):
            def __getattr__(self, attribute: str) -> Any:
                if attribute.startswith("do_"):  # any method reaches `serve`, which answers for it
                    return lambda: serve(self)
                raise AttributeError(attribute)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, name=name, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
