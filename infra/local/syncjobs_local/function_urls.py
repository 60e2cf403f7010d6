"""HTTP in front of Lambda, locally: a server per function that turns each request into the event its
front door would send (a function URL's payload 2.0, or API Gateway's REST proxy event) and the
handler's answer back into an HTTP response."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from syncjobs_local.lambda_events import api_event
from syncjobs_local.local_http import LocalHttpServer

Invoke = Callable[[dict[str, Any]], Any]
EventBuilder = Callable[[str, str, dict[str, str], bytes, str], dict[str, Any]]


def url_event(method: str, target: str, headers: dict[str, str], body: bytes, host: str) -> dict[str, Any]:
    parts = urllib.parse.urlsplit(target)
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": {k.lower(): v for k, v in headers.items()},
        "queryStringParameters": dict(urllib.parse.parse_qsl(parts.query)) or None,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": method,
                "path": parts.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("User-Agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": base64.b64encode(body).decode() if body else None,
        "isBase64Encoded": bool(body),
    }


def rest_event(method: str, target: str, headers: dict[str, str], body: bytes, host: str) -> dict[str, Any]:
    """API Gateway's REST proxy event for an IAM-authorised call (locally, the caller is the admin)."""
    raw = body.decode("utf-8", errors="replace") if body else None
    return api_event(method, target, caller=LOCAL_CALLER, headers=headers, raw_body=raw)


LOCAL_CALLER = "arn:aws:iam::123456789012:user/local-admin"


class FunctionUrlServer:
    def __init__(self, name: str, to_event: EventBuilder = url_event) -> None:
        self.name = name
        self._to_event = to_event
        self.invoke: Invoke | None = None  # set once the handlers are loaded
        self._server = LocalHttpServer(f"url-{name}", self._serve)

    @property
    def url(self) -> str:
        return self._server.url + "/"  # a function URL ends with a slash

    def start(self) -> FunctionUrlServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        if self.invoke is None:
            request.send_error(503, "function not loaded")
            return
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        event = self._to_event(
            request.command, request.path, dict(request.headers), body, request.headers.get("Host", "")
        )
        try:
            answer = self.invoke(event)
        except Exception as err:  # what API Gateway and function URLs do with a failed invocation
            answer = {"statusCode": 502, "body": json.dumps({"message": f"Internal server error: {err}"})}
        payload = answer.get("body") or ""
        data = base64.b64decode(payload) if answer.get("isBase64Encoded") else str(payload).encode()
        request.send_response(int(answer.get("statusCode", 200)))
        for key, value in (answer.get("headers") or {}).items():
            request.send_header(key, str(value))
        for key, values in (answer.get("multiValueHeaders") or {}).items():
            for value in values:
                request.send_header(key, str(value))
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
