"""SQS: the shard queue that feeds run_shard."""

from __future__ import annotations

from collections.abc import Sequence

from botocore.exceptions import ClientError

from syncjobs.settings import get_settings
from syncjobs.store.clients import client
from syncjobs.store.errors import TransientStoreError, translate

MAX_DELAY_S = 900  # SQS DelaySeconds


class ShardQueue:
    def __init__(self) -> None:
        self._sqs = client("sqs")
        self._url = get_settings().shard_queue_url

    def send(self, bodies: Sequence[str], delay_s: int = 0) -> None:
        """Send every body, ten per request, each delivered no sooner than `delay_s` seconds from now
        (at most 900); raises if any could not be queued."""
        for offset in range(0, len(bodies), 10):
            batch = bodies[offset : offset + 10]
            entries = [
                {"Id": str(i), "MessageBody": body, "DelaySeconds": min(delay_s, MAX_DELAY_S)}
                for i, body in enumerate(batch)
            ]
            try:
                out = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries)
            except ClientError as err:
                raise translate(err, "queueing shards") from err
            if out.get("Failed"):
                failed = ", ".join(f"{f['Id']}: {f.get('Code')}" for f in out["Failed"])
                raise TransientStoreError(f"queueing shards: {len(out['Failed'])} not queued ({failed})")
