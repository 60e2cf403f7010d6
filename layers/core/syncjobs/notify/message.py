"""Build the MIME message (text + HTML alternative) with header-safe values.

From carries a display name ("syncjobs <sender@example.com>", email.utils.formataddr: quoted or
encoded as the name needs). A mail about a job's subscription carries List-Unsubscribe (RFC 2369)
with the recipient's signed unsubscribe link and List-Unsubscribe-Post (RFC 8058), so that a mail
client's "Unsubscribe" button works in one click, without a login.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from syncjobs.notify.render import RenderedMail, one_line

DEFAULT_SENDER_NAME = "syncjobs"
# RFC 5322's hard line limit, not the 78-character fold: folding would encode the unsubscribe URL
# (one long word) as RFC 2047 words, which no mail client reads as a URL
_POLICY = policy.default.clone(max_line_length=998)


def message_id(message_key: str, recipient: str) -> str:
    """The same mail (subject, kind, recipient) always has the same Message-ID: a retried send is the
    same message to the recipient's mail system, and two recipients' copies still differ."""
    digest = hashlib.sha256(f"{message_key}\n{recipient.lower()}".encode()).hexdigest()[:16]
    key = one_line(message_key, 60).replace(" ", ".")
    return f"<{key}.{digest}@syncjobs>"


def build(
    sender: str,
    recipient: str,
    mail: RenderedMail,
    message_key: str,
    *,
    sender_name: str = DEFAULT_SENDER_NAME,
    unsubscribe_url: str | None = None,
    now: datetime | None = None,
) -> bytes:
    message = EmailMessage(policy=_POLICY)
    message["From"] = formataddr((one_line(sender_name, 80), one_line(sender))) if sender_name else one_line(sender)
    message["To"] = one_line(recipient)
    message["Subject"] = one_line(mail.subject, 300)
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = message_id(message_key, recipient)
    message["Auto-Submitted"] = "auto-generated"
    if unsubscribe_url:
        message["List-Unsubscribe"] = f"<{one_line(unsubscribe_url, 2000)}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message.as_bytes()
