"""Approval requests in the jobs table.

Layout: pk=APPROVAL#<id> sk=APPROVAL item_type=approval, the Approval fields;
        gsi1pk=APPROVALS gsi1sk=<requested_at>#<id> (every request, newest first).

Every change of status is conditional on the status before (previewing -> pending -> approved |
rejected | expired), so a link used twice, or two approvers at once, decide exactly once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from syncjobs.models.approval import Approval, ApprovalStatus
from syncjobs.settings import get_settings
from syncjobs.store import codec
from syncjobs.store.clients import client
from syncjobs.store.errors import NotFound, translate
from syncjobs.store.index import gsi1_items
from syncjobs.store.locks import put_once


def approval_key(approval_id: str) -> dict[str, Any]:
    return codec.dump_item({"pk": f"APPROVAL#{approval_id}", "sk": "APPROVAL"})


class ApprovalStore:
    def __init__(self) -> None:
        self._ddb = client("dynamodb")
        self._table = get_settings().jobs_table

    def create(self, approval: Approval) -> bool:
        """Record a new request; False if this very request was recorded before."""
        item = approval.model_dump(mode="json")
        item.update(
            pk=f"APPROVAL#{approval.approval_id}",
            sk="APPROVAL",
            item_type="approval",
            gsi1pk="APPROVALS",
            gsi1sk=f"{approval.requested_at.isoformat()}#{approval.approval_id}",
        )
        return put_once(self._ddb, self._table, item, f"recording approval request {approval.approval_id}")

    def get(self, approval_id: str) -> Approval:
        try:
            out = self._ddb.get_item(TableName=self._table, Key=approval_key(approval_id), ConsistentRead=True)
        except ClientError as err:
            raise translate(err, f"reading approval request {approval_id}") from err
        if "Item" not in out:
            raise NotFound(f"approval request {approval_id} does not exist")
        return Approval.model_validate(codec.load_item(out["Item"]))

    def recent(self, limit: int = 50) -> list[Approval]:
        items = gsi1_items(self._ddb, self._table, "APPROVALS", "listing approval requests", limit)
        return [Approval.model_validate(item) for item in items]

    def transition(
        self,
        approval_id: str,
        before: ApprovalStatus,
        after: ApprovalStatus,
        fields: dict[str, Any],
        unexpired_at: datetime | None = None,
    ) -> bool:
        """before -> after with `fields`, only if the status is still `before` (and, with
        `unexpired_at`, the request has not expired by then). False if not."""
        values: dict[str, Any] = {":before": codec.dump(before.value), ":after": codec.dump(after.value)}
        names = {"#status": "status"}
        sets = ["#status = :after"]
        for i, (name, value) in enumerate(sorted(fields.items())):
            names[f"#f{i}"] = name
            values[f":f{i}"] = codec.dump(value) if value is not None else {"NULL": True}
            sets.append(f"#f{i} = :f{i}")
        condition = "#status = :before"
        if unexpired_at is not None:
            condition += " AND expires_at > :now"
            values[":now"] = codec.dump(unexpired_at.isoformat())
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=approval_key(approval_id),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as err:
            if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise translate(err, f"recording the decision on approval request {approval_id}") from err
        return True
