"""Where a connector secret may be sent: each secret declares the URL prefixes it belongs to (its tag
`syncjobs:destinations`), and a job whose source or target URL is not under one of them is refused at
apply and at run, before the secret is read. Without this, anyone who may apply a job could point its
target at a listener of their own and receive the real bearer token.

https only; plain http only to a loopback address, and only where the deployment allows it (the local
stack, whose SCIM server listens on loopback).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

DESTINATIONS_TAG = "syncjobs:destinations"  # space-separated URL prefixes
_DEFAULT_PORTS = {"https": 443, "http": 80}


class DestinationRefused(Exception):
    """A connector secret would be sent where it does not belong (the message says where and why)."""


def parse_destinations(tag_value: str) -> tuple[str, ...]:
    return tuple(part for part in tag_value.split() if part)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_UNSAFE_PATH = re.compile(r"(^|/)\.{1,2}(/|$)|%2e|%2f|%5c|\\", re.IGNORECASE)


def _origin_and_path(url: str) -> tuple[str, str, int, str] | None:
    """(scheme, host, port, path) of a URL a secret may be checked against; None for anything else: no
    credentials, query or fragment in it, and no path the HTTP client or a server could resolve
    elsewhere (dot segments, encoded dots or slashes, backslashes)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host or parts.username is not None or parts.password is not None:
        return None
    if parts.query or parts.fragment or _UNSAFE_PATH.search(parts.path):
        return None
    return scheme, host, port or _DEFAULT_PORTS[scheme], parts.path or "/"


def under(url: str, prefix: str) -> bool:
    """Whether `url` is `prefix` or below it: the same scheme, host and port, and a path that is the
    prefix's or goes on from it at a "/" ("/scim" covers "/scim/v2", not "/scimx")."""
    got, allowed = _origin_and_path(url), _origin_and_path(prefix)
    if got is None or allowed is None or got[:3] != allowed[:3]:
        return False
    path, base = got[3].rstrip("/") + "/", allowed[3].rstrip("/") + "/"
    return path.startswith(base)


def destination_problem(
    field: str, secret: str, url: str, destinations: Sequence[str], loopback_http: bool
) -> str | None:
    """Why the secret may not be sent to `url` (`field` names the URL in the job), or None."""
    parsed = _origin_and_path(url)
    if parsed is None:
        return (
            f"{field}: {url!r} is not a plain http(s) URL (no credentials, query, fragment, dot segments "
            "or encoded slashes)"
        )
    scheme, host = parsed[0], parsed[1]
    if scheme != "https" and not (loopback_http and is_loopback(host)):
        return (
            f"{field}: {url} is not https: secret {secret!r} is sent over https only "
            "(plain http only to a loopback address on the local stack)"
        )
    if not destinations:
        return (
            f"{field}: secret {secret!r} declares no destinations: tag it {DESTINATIONS_TAG} with the URL "
            f"prefixes it may be sent to (for this job: {scheme}://{url.split('://', 1)[1].split('/', 1)[0]}/)"
        )
    if any(under(url, prefix) for prefix in destinations):
        return None
    return (
        f"{field}: secret {secret!r} may be sent only to {' '.join(destinations)} "
        f"(its tag {DESTINATIONS_TAG}); {url} is not under them"
    )
