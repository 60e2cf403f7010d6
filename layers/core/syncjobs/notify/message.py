"""Build the MIME message (text + HTML alternative) with header-safe values."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from syncjobs.notify.render import RenderedMail, one_line


def build(sender: str, recipient: str, mail: RenderedMail, message_key: str) -> bytes:
    message = EmailMessage()
    message["From"] = one_line(sender)
    message["To"] = one_line(recipient)
    message["Subject"] = one_line(mail.subject, 300)
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(idstring=one_line(message_key, 60).replace(" ", "."), domain="syncjobs")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message.as_bytes()
