"""A SCIM peer as real services behave under load, in front of scim2-server: every call takes a while,
and a share of calls is refused with 429 and a Retry-After (RFC 6585), as rate-limited SaaS targets do.

It is an HTTP proxy on its own local port: the job's target base_url points at it, syncjobs talks
real HTTP to it, and it forwards what it lets through to the real SCIM server. Deterministic for a
seed; the same request is never refused more than `max_refusals_in_a_row` times in a row, so a job
whose retry policy allows that many retries has a known outcome for every entity.

Other behaviours of real SCIM services, per test (`proxy.behaviour = Behaviour(...)`): a service that
ignores `filter` (answers 200 with every resource), and one whose `userName eq` also matches the
account's e-mail addresses (as services that match a login against its aliases do). And, for a SCIM
source, listings as real services shape them: filters refused (400) or answered with nothing, `sortBy`
ignored, a short `totalResults`, a wrong `itemsPerPage`, case-exact `userName eq`, and a
/ServiceProviderConfig that declares filter and sort, neither, or is missing. Accounts an admin
made by hand are put straight into the SCIM server with `create_directly`.

Group behaviours: a service that takes members only through PATCH (RFC 7644 allows it: `members` in
POST/PUT bodies of /Groups are dropped before they reach the server), and one that silently drops
every n-th member of PATCH add operations while answering success.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from syncjobs_local.local_http import LocalHttpServer

_FORWARDED = ("authorization", "content-type", "accept", "if-match")
_RETURNED = ("content-type", "etag", "location")


@dataclass(frozen=True)
class Behaviour:
    latency_s: float = 0.0
    throttle_share: float = 0.0  # of calls answered 429
    retry_after_s: tuple[int, int] = (1, 10)  # the Retry-After of a 429, drawn in this range
    max_refusals_in_a_row: int = 2
    seed: int = 0
    ignore_filter: bool = False  # GET answers every resource, whatever `filter` asks
    user_name_matches_emails: bool = False  # `userName eq "x"` also finds accounts with e-mail x
    # source-read behaviours: how listings come back (see _listing)
    filter_refused: bool = False  # any `filter` answered 400 invalidFilter
    filter_empty: bool = False  # any `filter` answered 200 with no resources
    sort_ignored: bool = False  # `sortBy` ignored: listings in another stable order (ids descending)
    short_total: int | None = None  # totalResults reported as at most this many
    items_per_page_wrong: bool = False  # itemsPerPage one more than the resources on the page
    user_name_case_exact: bool = False  # `userName eq` matches only the exact case
    spc: str = "upstream"  # /ServiceProviderConfig: upstream, declares (filter+sort), bare (neither), missing (404)
    # group behaviours
    members_only_via_patch: bool = False  # `members` in POST/PUT bodies of /Groups never reach the server
    drops_members: int = 0  # every n-th member value of PATCH add operations on /Groups is dropped (0: none)
    # a rate-limited service: writes (POST, PUT, PATCH, DELETE) beyond this many per second are answered
    # 429 with a Retry-After (a token bucket holding one second of writes); None: no limit
    max_writes_per_second: float | None = None


_GROUPS = re.compile(r"/Groups(/[^/?]+)?(\?.*)?$")
_USER_NAME_EQ = re.compile(r'^userName eq ("(?:[^"\\]|\\.)*")$')
_LISTING = re.compile(r"/(Users|Groups)$")
_LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def _reshapes_listings(b: Behaviour) -> bool:
    return (
        b.filter_refused
        or b.filter_empty
        or b.sort_ignored
        or b.short_total is not None
        or b.items_per_page_wrong
        or b.user_name_case_exact
    )


def _service_provider_config(declares: bool) -> dict[str, Any]:
    """A /ServiceProviderConfig that declares filter and sort, or neither (RFC 7643 section 5)."""
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": declares, "maxResults": 200},
        "changePassword": {"supported": False},
        "sort": {"supported": declares},
        "etag": {"supported": False},
        "authenticationSchemes": [],
    }


def _rewritten(path: str, behaviour: Behaviour) -> str:
    """The request path (with its query) as this peer applies it."""
    parts = urlsplit(path)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if behaviour.ignore_filter:
        query = [(k, v) for k, v in query if k != "filter"]
    elif behaviour.user_name_matches_emails:
        query = [(k, _USER_NAME_EQ.sub(r"\g<0> or emails.value eq \1", v) if k == "filter" else v) for k, v in query]
    else:
        return path
    return parts.path + ("?" + urlencode(query) if query else "")


class PeerProxy:
    def __init__(self, upstream: str, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self._upstream = httpx.Client(base_url=upstream.rstrip("/"), timeout=60)
        self._rng = random.Random(behaviour.seed)
        self._refused: dict[str, int] = {}
        self._lock = threading.Lock()
        self.calls = 0
        self.throttled = 0
        self.writes = 0  # writes let through
        self._tokens = 0.0
        self._filled_at = time.monotonic()
        self.members_added = 0  # member values of PATCH adds seen (drops_members counts them)
        self.members_dropped: list[str] = []
        self._server = LocalHttpServer("scim-peer", self._serve)

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> PeerProxy:
        self._server.start()
        return self

    def create_directly(self, path: str, resource: dict[str, Any], token: str | None) -> dict[str, Any]:
        """Create a resource in the SCIM server itself, past every behaviour (an account an admin made by
        hand); `path` as the proxy is called, e.g. /t1/v2/Users."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self._upstream.post(path, json=resource, headers=headers)
        response.raise_for_status()
        return dict(response.json())

    def stop(self) -> None:
        self._server.stop()
        self._upstream.close()

    def _refuse(self, key: str) -> int | None:
        """The Retry-After to refuse this call with, or None to let it through."""
        b = self.behaviour
        with self._lock:
            self.calls += 1
            refuse = self._refused.get(key, 0) < b.max_refusals_in_a_row and self._rng.random() < b.throttle_share
            self._refused[key] = self._refused.get(key, 0) + 1 if refuse else 0
            if not refuse:
                return None
            self.throttled += 1
            return self._rng.randint(*b.retry_after_s)

    def _over_rate(self, method: str) -> int | None:
        """The Retry-After of a write beyond `max_writes_per_second`, or None to let it through."""
        rate = self.behaviour.max_writes_per_second
        if method == "GET":
            return None
        with self._lock:
            if rate is None:
                self.writes += 1
                return None
            now = time.monotonic()
            self._tokens = min(rate, self._tokens + (now - self._filled_at) * rate)
            self._filled_at = now
            if self._tokens >= 1:
                self._tokens -= 1
                self.writes += 1
                return None
            self.calls += 1
            self.throttled += 1
            return max(1, math.ceil((1 - self._tokens) / rate))

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        time.sleep(self.behaviour.latency_s)
        retry_after = self._over_rate(request.command)
        if retry_after is None:
            retry_after = self._refuse(f"{request.command} {request.path} {body!r}")
        if retry_after is not None:
            self._answer(request, 429, b'{"detail": "too many requests"}', {"Retry-After": str(retry_after)})
            return
        headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED}
        if request.command == "GET" and self._served_here(request, headers):
            return
        if body and _GROUPS.search(urlsplit(request.path).path):
            body = self._group_body(request.command, body)
        path = _rewritten(request.path, self.behaviour) if request.command == "GET" else request.path
        response = self._upstream.request(request.command, path, content=body, headers=headers)
        returned = {k: v for k, v in response.headers.items() if k.lower() in _RETURNED}
        self._answer(request, response.status_code, response.content, returned)

    def _served_here(self, request: BaseHTTPRequestHandler, headers: dict[str, str]) -> bool:
        """Answer a GET as the source-read behaviours say; False: not theirs, forward it."""
        b = self.behaviour
        parts = urlsplit(request.path)
        if parts.path.endswith("/ServiceProviderConfig") and b.spc != "upstream":
            if b.spc == "missing":
                self._answer(request, 404, b'{"detail": "not found"}', {"Content-Type": "application/scim+json"})
            else:
                body = _service_provider_config(b.spc == "declares")
                self._answer(request, 200, json.dumps(body).encode(), {"Content-Type": "application/scim+json"})
            return True
        if not _LISTING.search(parts.path) or not _reshapes_listings(b):
            return False
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        filter_ = query.get("filter")
        if filter_ and b.filter_refused:
            error = {
                "schemas": [_ERROR],
                "scimType": "invalidFilter",
                "status": "400",
                "detail": "filter not supported",
            }
            self._answer(request, 400, json.dumps(error).encode(), {"Content-Type": "application/scim+json"})
            return True
        found = [] if filter_ and b.filter_empty else self._everything(parts.path, query, headers)
        if found is None:
            return False
        if b.user_name_case_exact and filter_ and (eq := _USER_NAME_EQ.match(filter_)):
            wanted = json.loads(eq.group(1))
            found = [r for r in found if r.get("userName") == wanted]
        if b.sort_ignored:
            found = sorted(found, key=lambda r: str(r.get("id")), reverse=True)
        start = max(int(query.get("startIndex") or 1), 1)
        count = int(query.get("count") or 100)
        page = found[start - 1 : start - 1 + count]
        total = len(found) if b.short_total is None else min(len(found), b.short_total)
        body = {
            "schemas": [_LIST],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": len(page) + (1 if b.items_per_page_wrong else 0),
            "Resources": page,
        }
        self._answer(request, 200, json.dumps(body).encode(), {"Content-Type": "application/scim+json"})
        return True

    def _everything(self, path: str, query: dict[str, str], headers: dict[str, str]) -> list[dict[str, Any]] | None:
        """Every resource the upstream lists for the query (sorted by id), whatever page was asked;
        None when the upstream refuses it (its answer is then forwarded as it is)."""
        found: list[dict[str, Any]] = []
        start = 1
        while True:
            params = {**query, "startIndex": str(start), "count": "500", "sortBy": "id"}
            response = self._upstream.get(path, params=params, headers=headers)
            if response.status_code != 200:
                return None
            resources = response.json().get("Resources") or []
            if not resources:
                return found
            found += resources
            start += len(resources)

    def _group_body(self, method: str, body: bytes) -> bytes:
        """A /Groups request body as this peer passes it on (see the group behaviours)."""
        b = self.behaviour
        if not (b.members_only_via_patch and method in ("POST", "PUT")) and not (b.drops_members and method == "PATCH"):
            return body
        try:
            document = json.loads(body)
        except ValueError:
            return body
        if method in ("POST", "PUT"):
            document.pop("members", None)
        else:
            for operation in document.get("Operations") or []:
                if str(operation.get("op", "")).lower() == "add" and operation.get("path") == "members":
                    operation["value"] = [m for m in operation.get("value") or [] if not self._drops(m)]
        return json.dumps(document).encode()

    def _drops(self, member: dict[str, Any]) -> bool:
        with self._lock:
            self.members_added += 1
            if self.members_added % self.behaviour.drops_members:
                return False
            self.members_dropped.append(str(member.get("value")))
            return True

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
        request.send_response(status)
        for key, value in headers.items():
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        # the client may have given up waiting (its invocation's time ran out), as a real peer sees it
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            request.wfile.write(body)
