"""What the e2e tests look at: the SCIM server's own listing, the logs in S3, the export in S3."""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Callable

import boto3
import httpx

from syncjobs.admin import operations
from syncjobs.store.errors import NotFound
from syncjobs.store.runs import RunStore
from syncjobs_local.demo import Prepared
from syncjobs_local.stack import LocalStack


def scim_users(stack: LocalStack) -> dict[str, dict]:
    """Every user in the target, by externalId, from the SCIM server's own listing (paged)."""
    return scim_listing(stack, "/Users")


def scim_groups(stack: LocalStack) -> dict[str, dict]:
    """Every group in the target, by externalId (syncjobs sets it to the source's group id)."""
    return scim_listing(stack, "/Groups")


def scim_listing(stack: LocalStack, endpoint: str, url: str | None = None) -> dict[str, dict]:
    assert stack.scim is not None
    found: dict[str, dict] = {}
    headers = {"Authorization": f"Bearer {stack.scim.token}"}
    with httpx.Client(base_url=url or stack.scim.url, headers=headers) as http:
        start_index = 1
        while True:
            params = {"startIndex": start_index, "count": 500, "sortBy": "id"}
            page = http.get(endpoint, params=params).json()
            for resource in page.get("Resources", []):
                found[resource.get("externalId") or resource["id"]] = resource
            start_index += page["itemsPerPage"]
            if not page.get("Resources") or start_index > page["totalResults"]:
                return found


def log_rows(stack: LocalStack, key: str) -> list[dict[str, str]]:
    assert stack.resources is not None
    body = boto3.client("s3").get_object(Bucket=stack.resources.name("LogBucket"), Key=key)["Body"].read()
    return list(csv.DictReader(io.StringIO(body.decode())))


def rewrite_export(bucket: str, key: str, change: Callable[[list[list[str]]], list[list[str]]]) -> None:
    """Apply `change` to the data rows (header kept) of the CSV export in S3."""
    s3 = boto3.client("s3")
    text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", "surrogateescape")
    rows = list(csv.reader(io.StringIO(text)))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([rows[0], *change(rows[1:])])
    s3.put_object(Bucket=bucket, Key=key, Body=out.getvalue().encode("utf-8", "surrogateescape"))


def apply_with_groups(prepared: Prepared, groups_csv: bytes, key: str = "exports/groups.csv") -> None:
    """Re-apply a prepared job over users and groups, with `groups_csv` as its groups export."""
    boto3.client("s3").put_object(Bucket=prepared.bucket, Key=key, Body=groups_csv)
    document = dict(prepared.document)
    document["entity_types"] = ["users", "groups"]
    document["mapping"] = {**document["mapping"], "groups": {"displayName": "{{ name }}"}}
    groups_file = {"key": key, "id_column": "group_id", "members_column": "members"}
    document["source"] = {**document["source"], "groups": groups_file}
    operations.apply_job(operations.parse_job(document))


def holds_within(condition: Callable[[], bool], timeout_s: float, every_s: float = 0.1) -> bool:
    """Poll `condition` until it holds (True) or `timeout_s` has passed (False)."""
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while not condition():
        if time.monotonic() >= deadline:
            return False
        pause.wait(every_s)
    return True


def run_recorded(run_id: str) -> bool:
    """Whether start_run has recorded the run yet (an approved run is named before its start runs)."""
    try:
        RunStore().get(run_id)
    except NotFound:
        return False
    return True


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    """Poll `condition` until it holds; fail naming `what` once `timeout_s` has passed."""
    assert holds_within(condition, timeout_s), f"timed out waiting until {what}"


def outbox_settled(stack: LocalStack) -> None:
    """Wait until every mail SES accepted so far is written to the outbox: counting mails after this
    sees a second one if it was sent."""
    assert stack.outbox is not None
    outbox = stack.outbox
    wait_until(outbox.drained, "the outbox holds every mail SES accepted")
