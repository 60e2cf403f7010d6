"""The Lambda Invoke API, locally: what boto3's `lambda.invoke` reaches (AWS_ENDPOINT_URL_LAMBDA),
routed to the handlers the local stack loaded. `Event` invocations run in a thread and answer 202,
`RequestResponse` ones answer 200 with the handler's result, as Lambda does."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from syncjobs_local.local_http import LocalHttpServer

_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")

Resolve = Callable[[str], Callable[[dict[str, Any]], Any] | None]


class LambdaApiServer:
    def __init__(self, resolve: Resolve, resolve_event: Resolve | None = None) -> None:
        """`resolve`: a function by name or ARN, called as it is; `resolve_event`: what an Event
        invocation of it runs (Lambda's retries and on-failure destination, async_invoke.py)."""
        self._resolve = resolve
        self._resolve_event = resolve_event or resolve
        self.invocations: list[threading.Thread] = []
        self.errors: list[str] = []  # Event invocations dropped after their retries (or their destination failed)
        self._server = LocalHttpServer("lambda-api", self._serve)

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> LambdaApiServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def drain(self, timeout_s: float = 60.0) -> None:
        for thread in list(self.invocations):
            thread.join(timeout_s)

    def _event(self, invoke: Callable[[dict[str, Any]], Any], payload: dict[str, Any]) -> None:
        try:
            invoke(payload)
        except KeyboardInterrupt:
            raise
        except BaseException as err:  # dropped after its retries: recorded, as Lambda's metrics would show it
            self.errors.append(f"{type(err).__name__}: {err}")

    def _answer(self, request: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str]) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        request.send_response(status)
        for key, value in headers.items():
            request.send_header(key, value)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        match = _INVOKE.match(request.path.split("?")[0])
        length = int(request.headers.get("Content-Length") or 0)
        payload = json.loads(request.rfile.read(length) or b"{}")
        event = request.headers.get("X-Amz-Invocation-Type") == "Event"
        resolve = self._resolve_event if event else self._resolve
        invoke = resolve(unquote(match["name"])) if match else None
        if invoke is None:
            body = {"Type": "User", "message": f"Function not found: {request.path}"}
            self._answer(request, 404, body, {"x-amzn-ErrorType": "ResourceNotFoundException"})
            return
        if event:
            thread = threading.Thread(target=self._event, args=(invoke, payload), name="lambda-event", daemon=True)
            self.invocations.append(thread)
            thread.start()
            self._answer(request, 202, None, {})
            return
        try:
            result = invoke(payload)
        except Exception as err:
            body = {"errorMessage": str(err), "errorType": type(err).__name__}
            self._answer(request, 200, body, {"X-Amz-Function-Error": "Unhandled"})
            return
        self._answer(request, 200, result, {"X-Amz-Executed-Version": "$LATEST"})
