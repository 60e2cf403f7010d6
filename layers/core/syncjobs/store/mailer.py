"""SES v2: sends a ready MIME message."""

from __future__ import annotations

from collections.abc import Sequence

from botocore.exceptions import ClientError

from syncjobs.store.clients import client
from syncjobs.store.errors import translate


class Mailer:
    def __init__(self) -> None:
        self._ses = client("sesv2")

    def send_raw(self, sender: str, recipients: Sequence[str], message: bytes) -> str:
        try:
            out = self._ses.send_email(
                FromEmailAddress=sender,
                Destination={"ToAddresses": list(recipients)},
                Content={"Raw": {"Data": message}},
            )
        except ClientError as err:
            raise translate(err, f"sending mail to {len(recipients)} recipient(s)") from err
        return str(out["MessageId"])
