"""How far the merge of a run's logs got, in an item beside the run (workflows/log_merge.py).

  merge  pk=RUN#<run_id>  sk=MERGE#<name>  item_type=merge, extras (S3 key of finalize's own lines),
         outcome (index of the log being merged), next_part (the first counted part not yet in an
         uploaded part), upload_id and etags (its uploaded parts, numbered from 1), log_keys (the logs
         done), version (raised by every save)

`name` is "logs" for finalize's merge and "swept" for the sweep's. Every save is conditional on the
version read, so two mergers of one run never overwrite each other's progress: the one that loses
re-reads and follows the winner. The item stays small: one ETag (about 34 bytes) per 8 MiB part.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import ClientError

from syncjobs.settings import get_settings
from syncjobs.store import codec
from syncjobs.store.clients import client
from syncjobs.store.errors import translate
from syncjobs.store.runs import _child

MERGE_PREFIX = "MERGE#"


@dataclass(frozen=True)
class MergeState:
    extras: str  # S3 key of finalize's own log lines ("" when it has none to save)
    outcome: int = 0  # index into OUTCOMES of the log being merged (len(OUTCOMES): all done)
    next_part: int = 0  # index, in reading order, of the first counted part not in an uploaded part
    upload_id: str | None = None  # the multipart upload of the log being merged, once one is needed
    etags: tuple[str, ...] = ()  # of its uploaded parts, numbered from 1
    log_keys: dict[str, str] = field(default_factory=dict)  # outcome -> merged log, for the logs done
    version: int = 0


class LogMerges:
    def __init__(self) -> None:
        self._ddb = client("dynamodb")
        self._table = get_settings().jobs_table

    def get(self, run_id: str, name: str) -> MergeState | None:
        try:
            out = self._ddb.get_item(
                TableName=self._table, Key=codec.dump_item(_child(run_id, MERGE_PREFIX, name)), ConsistentRead=True
            )
        except ClientError as err:
            raise translate(err, f"reading the log merge of run {run_id}") from err
        if "Item" not in out:
            return None
        item = codec.load_item(out["Item"])
        return MergeState(
            extras=str(item.get("extras", "")),
            outcome=int(item["outcome"]),
            next_part=int(item["next_part"]),
            upload_id=item.get("upload_id"),
            etags=tuple(item.get("etags", ())),
            log_keys=dict(item.get("log_keys", {})),
            version=int(item["version"]),
        )

    def begin(self, run_id: str, name: str, extras: str) -> MergeState:
        """Start the merge with `extras` unless another merger started it first; returns the state
        that counts (whose `extras` every merger of the run then uses)."""
        state = MergeState(extras=extras)
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=self._item(run_id, name, state),
                ConditionExpression="attribute_not_exists(pk)",
            )
            return state
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise translate(err, f"starting the log merge of run {run_id}") from err
        winner = self.get(run_id, name)
        assert winner is not None  # merge items are never deleted
        return winner

    def save(self, run_id: str, name: str, state: MergeState) -> MergeState:
        """Record `state` (read at `state.version`, changed since); Conflict if another merger saved
        since. Returns the state as saved."""
        saved = replace(state, version=state.version + 1)
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=self._item(run_id, name, saved),
                ConditionExpression="version = :v",
                ExpressionAttributeValues={":v": codec.dump(state.version)},
            )
        except ClientError as err:
            raise translate(err, f"saving the log merge of run {run_id}") from err
        return saved

    @staticmethod
    def _item(run_id: str, name: str, state: MergeState) -> dict[str, Any]:
        return codec.dump_item(
            {
                **_child(run_id, MERGE_PREFIX, name),
                "item_type": "merge",
                "extras": state.extras,
                "outcome": state.outcome,
                "next_part": state.next_part,
                "upload_id": state.upload_id,
                "etags": list(state.etags),
                "log_keys": state.log_keys,
                "version": state.version,
            }
        )
