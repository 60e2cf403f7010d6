"""Billed units of the real boto3 calls the code makes, recorded by botocore event hooks on the clients
of syncjobs.store.clients (`install` goes into `clients.client_hooks` before the clients are made).

What a request alone does not tell, the meter reads from the local AWS with a client of its own (not
metered, not IAM-checked): the size of an item before an UpdateItem or DeleteItem and after an
UpdateItem, since DynamoDB bills the larger one. Lambda's requests and GB-seconds come from the local
stack's invocation log instead (stages.py). Calls made in the bench's main thread (its polling of the
run, its checks) are not the application's and are not metered. SQS polling by Lambda's event source mappings is
estimated as one receive and one delete per message sent to a queue a function consumes.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3

from tests.bench.costs import Usage, item_size, query_units, read_units, sqs_requests, write_units

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

    def install(self, client: Any) -> None:
        client.meta.events.register("provide-client-params", self._before)
        client.meta.events.register("after-call", self._after)

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
        if model.service_model.service_name == "dynamodb" and model.name in ("UpdateItem", "DeleteItem"):
            context["bench_size_before"] = self._size_now(params["TableName"], params["Key"])

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if threading.current_thread() is threading.main_thread():
            return
        service, op = model.service_model.service_name, model.name
        with self._lock:
            self.requests[f"{service}.{op}"] += 1
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
            handler(op, params, parsed or {}, context)

    # ------------------------------------------------------------------ services
    def _add(self, **units: float) -> None:
        with self._lock:
            for name, value in units.items():
                setattr(self.usage, name, getattr(self.usage, name) + value)

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
        elif op == "PutItem":
            self._add(dynamodb_wru=write_units(item_size(params.get("Item"))))
        elif op == "UpdateItem":
            after = self._size_now(params["TableName"], params["Key"])
            self._add(dynamodb_wru=write_units(max(context.get("bench_size_before", 0), after)))
        elif op == "DeleteItem":
            self._add(dynamodb_wru=write_units(context.get("bench_size_before", 0)))
        elif op == "BatchWriteItem":
            wru = 0
            for table, requests in params.get("RequestItems", {}).items():
                unprocessed = len(parsed.get("UnprocessedItems", {}).get(table, []))
                done = requests[: len(requests) - unprocessed]
                # a deleted entity-state item is small (< 1 KB): one unit, read not needed
                wru += sum(write_units(item_size(r.get("PutRequest", {}).get("Item"))) for r in done)
            self._add(dynamodb_wru=wru)
        elif op == "TransactWriteItems":
            wru, rru = 0, 0.0
            for entry in params.get("TransactItems", []):
                if "Put" in entry:
                    wru += 2 * write_units(item_size(entry["Put"]["Item"]))
                elif "Update" in entry:
                    wru += 2 * write_units(self._size_now(entry["Update"]["TableName"], entry["Update"]["Key"]))
                elif "Delete" in entry:
                    wru += 2 * write_units(0)
                elif "ConditionCheck" in entry:
                    rru += 2 * read_units(0, consistent=True)
            self._add(dynamodb_wru=wru, dynamodb_rru=rru)
        elif op == "TransactGetItems":
            sizes = [item_size(r.get("Item")) for r in parsed.get("Responses", [])]
            self._add(dynamodb_rru=sum(2 * read_units(s, consistent=True) for s in sizes))

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

    # ------------------------------------------------------------------ item sizes
    def _size_now(self, table: str, key: dict[str, Any]) -> int:
        with self._lock:
            if self._side is None:
                self._side = boto3.client("dynamodb")
        return item_size(self._side.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item"))


def _attributes_size(entry: dict[str, Any]) -> int:
    """Message attributes count into the payload: names, types and values."""
    return len(json.dumps(entry.get("MessageAttributes") or {}).encode()) if entry.get("MessageAttributes") else 0
