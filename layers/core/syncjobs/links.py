"""Download links that sign on click: a mail carries a link to the links function, holding a token
(run, what, expiry) signed with HMAC-SHA256; on click, the function checks the token and redirects
to an S3 URL presigned right then, for a few minutes (what = an outcome's log), or shows the run's
details page (what = "details").

Why: a presigned S3 URL dies when the credentials that signed it expire, whatever its X-Amz-Expires
says, and a Lambda role's credentials are temporary (a 7-day link signed in Lambda died after ~12 h,
boto3 #2392). A token's lifetime depends on nothing but its key, so a mail link works until the
expiry the mail states (bounded by the log retention, after which there is nothing to download).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from syncjobs.models.outcome import Outcome

_RUN_ID = re.compile(r"^[0-9A-Za-z-]{1,64}$")


class LinkRefused(ValueError):
    """The token is not one syncjobs signed, or it has expired. `status` is the HTTP answer."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


DETAILS = "details"
APPROVE, REJECT = "approve", "reject"  # an approver's decision on an approval request (run_id: its id)
UNSUBSCRIBE = "unsubscribe"  # a subscriber's way out of a job's mails (run_id: the job's id, who: the subscriber)
TARGETS = frozenset({*(o.value for o in Outcome), DETAILS, APPROVE, REJECT, UNSUBSCRIBE})


@dataclass(frozen=True)
class LinkClaim:
    run_id: str  # the run, the approval request (APPROVE/REJECT) or the job (UNSUBSCRIBE)
    target: str  # an outcome (its log), DETAILS (the run's page), APPROVE, REJECT or UNSUBSCRIBE
    expires_at: datetime
    who: str | None = None  # the approver a decision link, or the subscriber an unsubscribe link, was made for

    @property
    def outcome(self) -> Outcome:
        return Outcome(self.target)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def sign(key: bytes, run_id: str, target: str, expires_at: datetime, who: str | None = None) -> str:
    if target not in TARGETS:
        raise ValueError(f"a link leads to a log, the details page, a decision or an unsubscribe, not {target!r}")
    claim: dict[str, object] = {"r": run_id, "o": target, "e": int(expires_at.timestamp())}
    if who is not None:
        claim["w"] = who
    payload = _b64(json.dumps(claim).encode())
    return f"{payload}.{_mac(key, payload)}"


def verify(key: bytes, token: str, now: datetime, allow_expired: bool = False) -> LinkClaim:
    """The token's claim; LinkRefused if it is not syncjobs' or (unless `allow_expired`) has expired."""
    if not token.isascii():  # a token is base64url and a dot; compare_digest refuses non-ASCII text
        raise LinkRefused("this link is not valid (malformed)", 403)
    payload, _, mac = token.partition(".")
    if not payload or not mac or not hmac.compare_digest(_mac(key, payload), mac):
        raise LinkRefused("this link is not valid (it was changed or not made by syncjobs)", 403)
    try:
        claim = json.loads(_unb64(payload))
        run_id, target, expires = str(claim["r"]), str(claim["o"]), int(claim["e"])
        who = str(claim["w"]) if "w" in claim else None
    except (binascii.Error, ValueError, KeyError, TypeError) as err:
        raise LinkRefused("this link is not valid (malformed)", 403) from err
    if not _RUN_ID.match(run_id) or target not in TARGETS:
        raise LinkRefused("this link is not valid (malformed)", 403)
    expires_at = datetime.fromtimestamp(expires, UTC)
    if now >= expires_at and not allow_expired:
        raise LinkRefused(f"this link expired at {expires_at:%Y-%m-%d %H:%M} UTC", 410)
    return LinkClaim(run_id, target, expires_at, who)
