"""HTTP to a SCIM 2.0 service, shared by the SCIM source and target: bearer token, SCIM media type,
and retries of 429 (honouring Retry-After), 5xx, timeouts and connection errors per the job's policy."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import httpx

from syncjobs.connectors.base import TargetError
from syncjobs.deadline import Budget, OutOfTime
from syncjobs.models.job import RetryPolicy

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
# entity type -> (endpoint, core schema, the attribute that names an entity uniquely enough to find it)
ENDPOINTS = {"users": ("/Users", USER_SCHEMA, "userName"), "groups": ("/Groups", GROUP_SCHEMA, "externalId")}
_MAX_RETRY_AFTER = 120.0


PEER_REASON_CHARS = 160  # a peer's answer quoted in runs, mails and pages is cut to this


def peer_reason(text: str) -> str:
    """A peer's answer as a short, plain reason: printable characters only, whitespace runs made one
    space, cut to PEER_REASON_CHARS (a peer decides what it sends; runs, mails and pages quote it)."""
    plain = "".join(c if c.isprintable() else " " for c in text)
    line = " ".join(plain.split())
    return line if len(line) <= PEER_REASON_CHARS else line[: PEER_REASON_CHARS - 1] + "…"


def scim_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return peer_reason(response.text[:4096]) or response.reason_phrase
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("scimType") or ""
        return peer_reason(str(detail)[:4096])
    return ""


def quoted(value: str) -> str:
    """A SCIM filter string literal (RFC 7644 section 3.4.2.2)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER)
    except ValueError:
        return default


_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class WritePace(Protocol):
    """The job's pace of writes (workflows.pacing.JobPace): asked before every write request, told of
    every answer to one."""

    def before_write(self) -> None: ...

    def succeeded(self) -> None: ...

    def throttled(self, retry_after_s: float) -> None: ...


@dataclass(frozen=True)
class Probe:
    """What a SCIM service answered to GET /Users?count=0: its HTTP status (None: no answer) and detail."""

    status: int | None
    detail: str


class ScimClient:
    def __init__(
        self,
        base_url: str,
        token: str | None,
        timeout_seconds: float,
        retry: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        budget: Budget | None = None,
        pace: WritePace | None = None,
        max_pause_s: float | None = None,
    ) -> None:
        """`pace`: the job's write pace (None: none). `max_pause_s`: the longest Retry-After slept
        here; a longer one raises OutOfTime carrying it, so the work waits on the queue (None: any
        the budget covers)."""
        self._retry = retry
        self._pace = pace
        self._max_pause_s = max_pause_s
        self._sleep = sleep
        self._timeout = timeout_seconds
        self._budget = budget or Budget.unlimited()
        headers = {"Accept": "application/scim+json", "Content-Type": "application/scim+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=timeout_seconds,
            transport=transport,
            verify=_tls_context(),
        )

    def close(self) -> None:
        self._http.close()

    def pace_writes(self, pace: WritePace | None, max_pause_s: float | None) -> None:
        self._pace, self._max_pause_s = pace, max_pause_s

    def checked(self, response: httpx.Response, action: str) -> httpx.Response:
        if response.status_code >= 400:
            raise self.error(response, action)
        return response

    @staticmethod
    def error(response: httpx.Response, action: str) -> TargetError:
        status = response.status_code
        return TargetError(
            f"{action} failed: HTTP {status} {scim_detail(response)}".rstrip(),
            retryable=status == 429 or status >= 500,
            status=status,
        )

    def probe(self, timeout_s: float = 10.0) -> Probe:
        """One GET /Users?count=0 without retries: does the service take these credentials? A preflight,
        so a transport error is reported (status None), not raised."""
        try:
            response = self._http.get("/Users", params={"count": "0"}, timeout=min(self._timeout, timeout_s))
        except httpx.HTTPError as err:
            return Probe(None, f"{type(err).__name__}: {err}")
        return Probe(response.status_code, scim_detail(response) if response.status_code >= 400 else "")

    def get_json(self, path: str, params: dict[str, str], action: str) -> dict[str, Any]:
        return dict(self.checked(self.request("GET", path, None, params=params), action).json())

    @property
    def attempts(self) -> int:
        return self._retry.retries + 1

    def pause(self, response: httpx.Response | None) -> None:
        """Wait before the next attempt: Retry-After of a 429, else the policy's delay. A wait the
        invocation's budget cannot cover raises OutOfTime carrying it, so the rest waits in the queue."""
        delay = self._retry.delay_seconds
        if response is not None and response.status_code == 429:
            delay = _retry_after(response, delay)
            if self._max_pause_s is not None and delay > self._max_pause_s:
                raise OutOfTime("the target asked to wait (429 Retry-After)", resume_after_s=delay)
        self._budget.check("waiting before a retry", needs_s=delay, resume_after_s=delay)
        self._sleep(delay)

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        params: dict[str, str] | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        """One call, retried on 429, 5xx, timeouts and connection errors (unless retry=False): the last
        429/5xx answer is returned; a timeout or connection error on the last attempt raises."""
        attempts = self.attempts if retry else 1
        for attempt in range(1, attempts + 1):
            self._budget.check(f"{method} {path}")
            paced = self._pace is not None and method in _WRITES
            if paced:
                assert self._pace is not None
                self._pace.before_write()
            timeout = min(self._timeout, self._budget.left())
            if timeout <= 0:  # the check passed, but the time ran out since (a pace's pause, a busy CPU)
                raise OutOfTime(f"no time left in this invocation for {method} {path}")
            try:
                response = self._http.request(method, path, json=body, params=params, timeout=timeout)
            except httpx.TimeoutException as err:
                if timeout < self._timeout:  # cut short by the budget; it may have been applied: the rest redoes it
                    raise OutOfTime(f"{method} {path} did not answer before the end of the invocation") from err
                if attempt == attempts:
                    raise TargetError(f"{method} {path} timed out after {attempt} attempt(s)", retryable=True) from err
                self.pause(None)
                continue
            except httpx.TransportError as err:
                if attempt == attempts:
                    raise TargetError(f"{method} {path}: {type(err).__name__}: {err}", retryable=True) from err
                self.pause(None)
                continue
            if paced:
                self._tell_pace(response)
            if (response.status_code == 429 or response.status_code >= 500) and attempt < attempts:
                self.pause(response)
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _tell_pace(self, response: httpx.Response) -> None:
        assert self._pace is not None
        if response.status_code == 429:
            self._pace.throttled(_retry_after(response, self._retry.delay_seconds))
        elif response.status_code < 500:
            self._pace.succeeded()


@cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building one loads the CA bundle, which costs more than
    a short shard part's requests (a client is made per shard part)."""
    return httpx.create_ssl_context()
