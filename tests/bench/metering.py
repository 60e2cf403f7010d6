"""Billed units of the real boto3 calls the code makes, recorded by botocore event hooks on the clients
of syncjobs.store.clients (`install` goes into `clients.client_hooks` before the clients are made).

What a request alone does not tell, the meter reads from the local AWS with a client of its own (not
metered, not IAM-checked): the item before every write and after an UpdateItem (DynamoDB bills the larger
of the two, and a write's index writes depend on both, indexes.py), and each table's indexes
(DescribeTable, once per table). Lambda's requests and GB-seconds come from the local stack's invocation
log instead (stages.py); each AWS request is also counted on the invocation that made it (tracing.py),
for its duration estimate, and the CPU the meter spends in an invocation's threads is not the invocation's.
Calls made in the bench's main thread (its polling of the run, its checks) are not the application's and
are not metered. SQS polling by Lambda's event source mappings is estimated as one receive and one delete
per message sent to a queue a function consumes.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3

from tests.bench import tracing
from tests.bench.costs import Usage, item_size, query_units, read_units, sqs_requests
from tests.bench.indexes import Item, TableIndexes, from_description, item_write_units

_S3_PUT_CLASS = {
    "PutObject",
    "CopyObject",
    "PostObject",
    "CreateMultipartUpload",
    "UploadPart",
    "UploadPartCopy",
    "CompleteMultipartUpload",
    "ListObjects",
    "ListObjectsV2",
    "ListObjectVersions",
    "ListParts",
    "ListMultipartUploads",
    "ListBuckets",
}
_S3_FREE = {"DeleteObject", "DeleteObjects", "AbortMultipartUpload"}


class Meter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.usage = Usage()
        self.sqs_messages_sent = 0  # each costs an event source mapping's receive and delete
        self.requests: Counter[str] = Counter()  # per "service.Operation", as clients.requests, less the bench's
        self._side: Any = None
        self._tables: dict[str, TableIndexes] = {}

    def install(self, client: Any) -> None:
        client.meta.events.register("provide-client-params", self._before)
        client.meta.events.register("after-call", self._after)
        tracing.time_local_checks(client)

    def snapshot(self) -> Usage:
        with self._lock:
            return Usage(**vars(self.usage))

    def requests_snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.requests)

    # ------------------------------------------------------------------ hooks
    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        context["bench_params"] = dict(params)
        if threading.current_thread() is threading.main_thread():
            return
        if model.service_model.service_name == "dynamodb":
            with tracing.overhead():
                self._read_before(model.name, params, context)

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if threading.current_thread() is threading.main_thread():
            return
        service, op = model.service_model.service_name, model.name
        with self._lock:
            self.requests[f"{service}.{op}"] += 1
        trace = tracing.current.get()
        if trace is not None:
            now = time.perf_counter()
            trace.add_request(f"{service}.{op}", context.get("bench_sent", now), now)
        params = context.get("bench_params", {})
        handler: Callable[[str, dict[str, Any], dict[str, Any], dict[str, Any]], None] | None = {
            "dynamodb": self._dynamodb,
            "s3": self._s3,
            "sqs": self._sqs,
            "ses": self._ses,
            "sesv2": self._ses,
            "secretsmanager": self._secrets,
        }.get(service)
        if handler is not None:
            with tracing.overhead():
                handler(op, params, parsed or {}, context)

    # ------------------------------------------------------------------ services
    def _add(self, **units: float) -> None:
        with self._lock:
            for name, value in units.items():
                setattr(self.usage, name, getattr(self.usage, name) + value)

    def _read_before(self, op: str, params: dict[str, Any], context: dict[str, Any]) -> None:
        """The items a write is about to change, as they are now (None: no item)."""
        if op in ("UpdateItem", "DeleteItem"):
            context["bench_before"] = self._item_now(params["TableName"], params["Key"])
        elif op == "PutItem":
            table = params["TableName"]
            context["bench_before"] = self._item_now(table, self._key_of(table, params["Item"]))
        elif op == "BatchWriteItem":
            context["bench_before"] = {
                table: self._items_now(table, [self._request_key(table, r) for r in requests])
                for table, requests in params.get("RequestItems", {}).items()
            }
        elif op == "TransactWriteItems":
            before = []
            for entry in params.get("TransactItems", []):
                (kind, action), *_ = entry.items()
                if kind == "ConditionCheck":
                    before.append(None)
                    continue
                key = action["Key"] if "Key" in action else self._key_of(action["TableName"], action["Item"])
                before.append(self._item_now(action["TableName"], key))
            context["bench_before"] = before

    def _dynamodb(self, op: str, params: dict[str, Any], parsed: dict[str, Any], context: dict[str, Any]) -> None:
        consistent = bool(params.get("ConsistentRead"))
        if op == "GetItem":
            self._add(dynamodb_rru=read_units(item_size(parsed.get("Item")), consistent))
        elif op == "BatchGetItem":
            rru = 0.0
            for table, request in params.get("RequestItems", {}).items():
                found = parsed.get("Responses", {}).get(table, [])
                unprocessed = len(parsed.get("UnprocessedKeys", {}).get(table, {}).get("Keys", []))
                strong = bool(request.get("ConsistentRead"))
                rru += sum(read_units(item_size(i), strong) for i in found)
                rru += (len(request.get("Keys", [])) - unprocessed - len(found)) * read_units(0, strong)
            self._add(dynamodb_rru=rru)
        elif op in ("Query", "Scan"):
            # items a filter dropped were read too, but their sizes are not in the answer (none used here)
            self._add(dynamodb_rru=query_units([item_size(i) for i in parsed.get("Items", [])], consistent))
        elif op in ("PutItem", "UpdateItem", "DeleteItem"):
            self._single_write(op, params, parsed, context)
        elif op == "BatchWriteItem":
            self._batch_write(params, parsed, context)
        elif op == "TransactWriteItems":
            self._transact_write(params, parsed, context)
        elif op == "TransactGetItems":
            sizes = [item_size(r.get("Item")) for r in parsed.get("Responses", [])]
            self._add(dynamodb_rru=sum(2 * read_units(s, consistent=True) for s in sizes))

    def _single_write(self, op: str, params: dict[str, Any], parsed: dict[str, Any], context: dict[str, Any]) -> None:
        before = context.get("bench_before")
        after = self._after_write(op.removesuffix("Item"), params, before, failed="Error" in parsed)
        wru, index_wru = item_write_units(before, after, self._indexes(params["TableName"]))
        self._add(dynamodb_wru=wru, dynamodb_index_wru=index_wru)

    def _after_write(self, kind: str, action: dict[str, Any], before: Item | None, failed: bool) -> Item | None:
        """The item after a Put, Update or Delete of `action` (a failed condition or a cancelled
        transaction changed nothing: it is billed, but writes no index)."""
        if failed:
            return before
        if kind == "Put":
            return action["Item"]  # type: ignore[no-any-return]
        if kind == "Update":
            return self._item_now(action["TableName"], action["Key"])
        return None

    def _batch_write(self, params: dict[str, Any], parsed: dict[str, Any], context: dict[str, Any]) -> None:
        """Each put or delete done (not handed back unprocessed) is a write of its item's larger image."""
        wru = index_wru = 0
        for table, requests in params.get("RequestItems", {}).items():
            before_all = context.get("bench_before", {}).get(table, {})
            handed_back = parsed.get("UnprocessedItems", {}).get(table, [])
            unprocessed = {_key_id(self._request_key(table, r)) for r in handed_back}
            for request in requests:
                key = _key_id(self._request_key(table, request))
                if key in unprocessed:
                    continue
                before = before_all.get(key)
                after = request["PutRequest"]["Item"] if "PutRequest" in request else None
                table_units, index_units = item_write_units(before, after, self._indexes(table))
                wru, index_wru = wru + table_units, index_wru + index_units
        self._add(dynamodb_wru=wru, dynamodb_index_wru=index_wru)

    def _transact_write(self, params: dict[str, Any], parsed: dict[str, Any], context: dict[str, Any]) -> None:
        """The table's writes count twice in a transaction. Its index writes are taken at the standard rate:
        the guide doubles a transaction's item writes and says nothing of the indexes they write."""
        wru, rru, index_wru = 0, 0.0, 0
        entries = params.get("TransactItems", [])
        failed = "Error" in parsed  # cancelled: nothing changed
        for entry, before in zip(entries, context.get("bench_before") or [None] * len(entries), strict=True):
            (kind, action), *_ = entry.items()
            if kind == "ConditionCheck":
                rru += 2 * read_units(0, consistent=True)
                continue
            after = self._after_write(kind, action, before, failed)
            table_units, index_units = item_write_units(before, after, self._indexes(action["TableName"]))
            wru, index_wru = wru + 2 * table_units, index_wru + index_units
        self._add(dynamodb_wru=wru, dynamodb_rru=rru, dynamodb_index_wru=index_wru)

    def _s3(self, op: str, params: dict[str, Any], parsed: dict[str, Any], context: dict[str, Any]) -> None:
        if op in _S3_PUT_CLASS:
            self._add(s3_put_class=1)
        elif op not in _S3_FREE:
            self._add(s3_get_class=1)

    def _sqs(self, op: str, params: dict[str, Any], parsed: dict[str, Any], context: dict[str, Any]) -> None:
        if op == "SendMessageBatch":
            entries = params.get("Entries", [])
            payload = sum(len(e.get("MessageBody", "").encode()) + _attributes_size(e) for e in entries)
            with self._lock:
                self.sqs_messages_sent += len(entries) - len(parsed.get("Failed", []))
            self._add(sqs_requests=sqs_requests(payload))
        elif op == "SendMessage":
            with self._lock:
                self.sqs_messages_sent += 1
            self._add(sqs_requests=sqs_requests(len(params.get("MessageBody", "").encode()) + _attributes_size(params)))
        elif op == "ReceiveMessage":
            payload = sum(len(m.get("Body", "").encode()) for m in parsed.get("Messages", []))
            self._add(sqs_requests=sqs_requests(payload))
        else:
            self._add(sqs_requests=1)

    def _ses(self, op: str, params: dict[str, Any], parsed: dict[str, Any], context: dict[str, Any]) -> None:
        destination = params.get("Destination") or {}
        recipients = sum(len(destination.get(k, [])) for k in ("ToAddresses", "CcAddresses", "BccAddresses"))
        recipients = recipients or len(params.get("Destinations", [])) or 1
        if op.startswith("Send"):
            self._add(ses_mails=recipients)

    def _secrets(self, op: str, params: dict[str, Any], parsed: dict[str, Any], context: dict[str, Any]) -> None:
        self._add(secrets_manager_calls=1)

    # ------------------------------------------------------------------ the local AWS, read aside
    def _side_client(self) -> Any:
        with self._lock:
            if self._side is None:
                self._side = boto3.client("dynamodb")
            return self._side

    def _indexes(self, table: str) -> TableIndexes:
        """The table's keys and global secondary indexes, as the local AWS describes them (once a table)."""
        with self._lock:
            known = self._tables.get(table)
        if known is None:
            known = from_description(self._side_client().describe_table(TableName=table)["Table"])
            with self._lock:
                self._tables[table] = known
        return known

    def _key_of(self, table: str, item: Item) -> Item:
        return {name: item[name] for name in self._indexes(table).table_keys}

    def _request_key(self, table: str, request: dict[str, Any]) -> Item:
        if "DeleteRequest" in request:
            return request["DeleteRequest"]["Key"]  # type: ignore[no-any-return]
        return self._key_of(table, request["PutRequest"]["Item"])

    def _item_now(self, table: str, key: Item) -> Item | None:
        return self._side_client().get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")  # type: ignore[no-any-return]

    def _items_now(self, table: str, keys: list[Item]) -> dict[str, Item]:
        """The items at `keys` that exist, by _key_id of their key (BatchGetItem, 100 keys a request)."""
        found: dict[str, Item] = {}
        unique = list({_key_id(k): k for k in keys}.values())
        for offset in range(0, len(unique), 100):
            pending: dict[str, Any] = {table: {"Keys": unique[offset : offset + 100], "ConsistentRead": True}}
            while pending:
                out = self._side_client().batch_get_item(RequestItems=pending)
                for item in out.get("Responses", {}).get(table, []):
                    found[_key_id(self._key_of(table, item))] = item
                pending = out.get("UnprocessedKeys") or {}
        return found


def _key_id(key: Item) -> str:
    return json.dumps(key, sort_keys=True, default=str)


def _attributes_size(entry: dict[str, Any]) -> int:
    """Message attributes count into the payload: names, types and values."""
    return len(json.dumps(entry.get("MessageAttributes") or {}).encode()) if entry.get("MessageAttributes") else 0
