"""Runs that cannot succeed end at once, saying why: a filter typo, an unknown column, a missing secret,
a CR-only export, a 140 KB header field. Each scheduled run ends failed with the reason before any shard
is queued, the job's lock is released, one mail goes to a `job_fails` subscriber, and the next fire
runs. `jobs apply` (API and CLI) refuses what it can see; a start_run that fails through Lambda's
asynchronous retries is a failed run too."""

from __future__ import annotations

import email
import email.policy
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import yaml

from syncjobs.admin import operations
from syncjobs.models.run import Run, RunStatus
from syncjobs.store import secrets
from syncjobs.store.errors import TransientStoreError
from syncjobs.store.jobs import JobStore
from syncjobs.store.runs import RunStore
from syncjobs.workflows import start_run as start_run_module
from syncjobs_local.demo import SECRET_NAME, Prepared, prepare, store_token, wait_for_run
from syncjobs_local.pollers import Scheduler
from syncjobs_local.stack import LocalStack
from tests.e2e.helpers import outbox_settled, wait_until
from tests.e2e.test_cli import cli

pytestmark = pytest.mark.e2e

ON_CALL = "on-call@example.com"
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


class Fires:
    """The job's hourly rule, fired by a scheduler on a simulated clock (EventBridge's async invoke)."""

    def __init__(self, stack: LocalStack, job_id: str) -> None:
        operations.set_schedule(job_id, "rate(1 hour)")
        self.stack, self.job_id, self.now = stack, job_id, T0
        self.scheduler = Scheduler(stack.event_target, clock=lambda: self.now)
        self.scheduler.tick()  # the rule is seen at T0

    def next(self) -> Run:
        before = {r.run_id for r in RunStore().list_for_job(self.job_id)}
        self.now += timedelta(hours=1)
        self.scheduler.tick()
        self.scheduler.drain()
        (new,) = [r for r in RunStore().list_for_job(self.job_id) if r.run_id not in before]
        return wait_for_run(new.run_id, timeout_s=120, stack=self.stack)


def mails_to(stack: LocalStack, recipient: str) -> list[email.message.EmailMessage]:
    assert stack.outbox is not None
    messages = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in stack.outbox.written]
    return [m for m in messages if str(m["To"]) == recipient]  # type: ignore[misc]


def decided(run: Run) -> None:
    """Wait until the notifier has decided (and sent or suppressed) the run's final mail for everyone."""

    def final_decided() -> bool:
        final = [n for n in operations.run_notifications(run.run_id) if n.kind == "finished_with_error"]
        return bool(final) and all(n.state != "claimed" for n in final)

    wait_until(final_decided, f"the final decision for run {run.run_id}", timeout_s=30)


def one_mail(stack: LocalStack, run: Run) -> str:
    """The one mail the on-call subscriber got for the run: its plain text."""
    decided(run)
    outbox_settled(stack)  # a second mail, were there one, is written by now
    (message,) = mails_to(stack, ON_CALL)
    return str(message.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]


def put_export(prepared: Prepared, data: bytes) -> None:
    boto3.client("s3").put_object(Bucket=prepared.bucket, Key=prepared.key, Body=data)


def export_of(prepared: Prepared) -> bytes:
    return bytes(boto3.client("s3").get_object(Bucket=prepared.bucket, Key=prepared.key)["Body"].read())


def with_mapping(prepared: Prepared, **users: str) -> None:
    """Store the job as an older version would have (apply refuses what start_run must catch)."""
    document = prepared.document
    mapping = {**document["mapping"], "users": {**document["mapping"]["users"], **users}}
    JobStore().put(operations.parse_job({**document, "mapping": mapping}))


def restore_mapping(prepared: Prepared) -> None:
    JobStore().put(operations.parse_job(prepared.document))


def rename_column(prepared: Prepared) -> None:
    data = export_of(prepared)
    header, rest = data.split(b"\n", 1)
    put_export(prepared, header.replace(b"first_name", b"given_name") + b"\n" + rest)


def delete_secret(prepared: Prepared) -> None:
    boto3.client("secretsmanager").delete_secret(SecretId=SECRET_NAME, ForceDeleteWithoutRecovery=True)
    secrets.forget()  # a new Lambda environment reads it afresh


def restore_secret(stack: LocalStack) -> Callable[[Prepared], None]:
    def restore(_: Prepared) -> None:
        assert stack.scim is not None
        store_token(stack.scim.token, stack.scim.origin)
        secrets.forget()

    return restore


def cr_only(prepared: Prepared) -> None:
    put_export(prepared, export_of(prepared).replace(b"\r\n", b"\n").replace(b"\n", b"\r"))


def giant_header_field(prepared: Prepared) -> None:
    data = export_of(prepared)
    header, rest = data.split(b"\n", 1)
    put_export(prepared, header.rstrip(b"\r") + b"," + b"n" * 140 * 1024 + b"\n" + rest)


CASES = {
    "filter-typo": (
        lambda p: with_mapping(p, userName="{{ email | lowr }}"),
        "mapping.users.userName: unknown filter 'lowr'",
    ),
    "unknown-column": (
        rename_column,
        "mapping.users.name.givenName: column 'first_name' is not in the header of s3://",
    ),
    "missing-secret": (delete_secret, f"target.token_secret: secret '{SECRET_NAME}' does not exist"),
    "cr-only-export": (cr_only, "line ends are CR only"),
    "140kb-header-field": (giant_header_field, "a header field is larger than the CSV field size limit"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_run_that_cannot_succeed_fails_at_once_with_the_reason_mails_once_and_the_next_fire_runs(stack, case):
    # Given a scheduled job with a job_fails subscriber, broken in one way retrying cannot fix
    prepared = prepare(stack, users=10, bad_rows=False, subscriber=None, shard_size=5)
    operations.subscribe(prepared.job_id, ON_CALL, "job_fails")
    original = export_of(prepared)
    fires = Fires(stack, prepared.job_id)
    breaks, reason = CASES[case]
    breaks(prepared)

    # When the schedule fires
    run = fires.next()

    # Then the run failed before any shard was queued, naming the problem
    assert run.status is RunStatus.FAILED
    assert reason in (run.reason or ""), run.reason
    assert run.shards_total is None
    # And the job's lock is released
    assert JobStore().get(prepared.job_id).active_run is None
    # And exactly one mail went to the job_fails subscriber, with the reason
    text = " ".join(one_mail(stack, run).split())
    assert reason in text

    # When the cause is put right, the next fire runs (it is not skipped behind a held lock)
    put_export(prepared, original)
    restore_mapping(prepared)
    if case == "missing-secret":
        restore_secret(stack)(prepared)
    after = fires.next()
    assert after.status is RunStatus.SUCCEEDED
    assert after.totals()["created"] == 10
    assert stack.poller_errors() == []


def put_job(stack: LocalStack, job_id: str, document: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{stack.admin_api_url}/jobs/{job_id}",
        data=json.dumps(document).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_jobs_apply_refuses_what_cannot_run_through_the_api_and_the_cli(stack, tmp_path: Path):
    # Given an export in the bucket and the job that reads it
    prepared = prepare(stack, users=3, bad_rows=False, subscriber=None)
    document = {**prepared.document, "job_id": "refused"}
    users = document["mapping"]["users"]

    # When a job with a filter typo and a column the export lacks is put through the admin API
    typo = {**document, "mapping": {"users": {**users, "userName": "{{ email | lowr }}", "title": "{{ job }}"}}}
    status, body = put_job(stack, "refused", typo)

    # Then it is refused with 422, naming both problems, and not stored
    assert status == 422
    assert "mapping.users.userName: unknown filter 'lowr'" in body["problems"]
    assert any(
        p.startswith("mapping.users.title: column 'job' is not in the header of s3://") for p in body["problems"]
    )
    assert "refused" not in {job.job_id for job in operations.list_jobs()}

    # When a job naming a secret that does not exist is applied with the CLI
    missing = {**document, "target": {**document["target"], "token_secret": "syncjobs/no-such-token"}}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(missing))
    applied = cli(stack, "jobs", "apply", "-f", str(path))

    # Then it exits 2 (invalid), naming the secret
    assert applied.returncode == 2
    assert "target.token_secret: secret 'syncjobs/no-such-token' does not exist" in applied.stderr

    # And the job as it should be is accepted
    path.write_text(yaml.safe_dump(document))
    assert cli(stack, "jobs", "apply", "-f", str(path)).returncode == 0


def test_a_start_run_failing_through_its_async_retries_shows_as_a_failed_run_and_mails(stack, monkeypatch):
    # Given a scheduled job with a job_fails subscriber, and DynamoDB throttling start_run on every attempt
    prepared = prepare(stack, users=5, bad_rows=False, subscriber=None)
    operations.subscribe(prepared.job_id, ON_CALL, "job_fails")
    fires = Fires(stack, prepared.job_id)
    stack.async_invoker.retry_delay_s = 0.05
    original = start_run_module.save_plans

    def throttled(*_args: object, **_kwargs: object) -> None:
        raise TransientStoreError("writing the plan: ThrottlingException: Rate exceeded")

    monkeypatch.setattr(start_run_module, "save_plans", throttled)

    # When the schedule fires (Lambda tries start_run three times, then its on-failure destination)
    run = fires.next()

    # Then the run is failed with the error, the job is free, and the subscriber is told once
    assert run.status is RunStatus.FAILED
    assert run.reason == (
        "start_run failed 3 times: TransientStoreError: writing the plan: ThrottlingException: Rate exceeded"
    )
    assert JobStore().get(prepared.job_id).active_run is None
    assert "start_run failed 3 times" in " ".join(one_mail(stack, run).split())

    # And once the throttling is over the next fire runs
    monkeypatch.setattr(start_run_module, "save_plans", original)
    assert fires.next().status is RunStatus.SUCCEEDED
