"""The admin API over HTTP: SigV4-signed (execute-api) for a deployed stack, plain for the local one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

# Exit codes a script can rely on (see README, "The CLI").
OK, FAILED_RUN, INVALID, NOT_FOUND, CONFLICT, UNAVAILABLE = 0, 1, 2, 3, 4, 5


class CliError(Exception):
    """What went wrong, in words, and the exit code it maps to."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class Api:
    base_url: str
    credentials: Credentials | None = None  # None: the local stack (no IAM)
    region: str = "us-east-1"
    timeout: float = 30.0

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """The API's JSON answer; `params` go in the query string (signed with it)."""
        response = self.send(method, path + (f"?{urlencode(params)}" if params else ""), body, headers)
        self.raise_for(response)
        return response.json() if response.content else None

    @staticmethod
    def raise_for(response: httpx.Response) -> None:
        """CliError for a 4xx/5xx answer, with the API's message and problems."""
        if response.status_code >= 400:
            raise _error(response)

    def send(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
        url = self.base_url.rstrip("/") + path
        data = json.dumps(body).encode() if body is not None else b""
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if self.credentials is not None:
            request = AWSRequest(method=method, url=url, data=data, headers=all_headers)
            SigV4Auth(self.credentials, "execute-api", self.region).add_auth(request)
            all_headers = dict(request.headers.items())
        try:
            return httpx.request(method, url, content=data or None, headers=all_headers, timeout=self.timeout)
        except httpx.TransportError as err:
            where = urlsplit(url).netloc
            raise CliError(f"cannot reach the admin API at {where}: {err}", UNAVAILABLE) from err


def segment(value: str) -> str:
    return quote(value, safe="")


def _error(response: httpx.Response) -> CliError:
    try:
        body = response.json()
    except ValueError:
        body = {"message": response.text[:300]}
    message = str(body.get("message") or body.get("Message") or response.reason_phrase)
    problems = body.get("problems") or [
        f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}" for d in body.get("detail", [])
    ]
    if problems:
        message = message + ":\n  " + "\n  ".join(problems)
    status = response.status_code
    if status in (400, 422):
        return CliError(message, INVALID)
    if status == 404:
        return CliError(message, NOT_FOUND)
    if status == 409:
        return CliError(message, CONFLICT)
    if status in (401, 403):
        return CliError(f"the admin API refused the credentials ({status}): {message}", INVALID)
    return CliError(f"the admin API failed ({status}): {message}", UNAVAILABLE)
