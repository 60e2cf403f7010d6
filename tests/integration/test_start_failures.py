"""start_run once it holds the job's lock: whatever goes wrong, the run ends (with the reason) and the
lock is released, or the error is one a retry heals and the retried start carries the same run on."""

import boto3
import pytest

from syncjobs.admin import operations
from syncjobs.models.run import RunStatus
from syncjobs.store.errors import TransientStoreError
from syncjobs.store.jobs import JobStore
from syncjobs.store.runs import RunStore
from syncjobs.workflows import start_run as start_run_module
from syncjobs_local.demo import SECRET_NAME, prepare
from tests.e2e.test_notifications import set_token


def fire(aws, job_id, request_id, run_type="read"):
    """One start request, as the API sends it: its id and the time it was first asked name its run."""
    event = {"job_id": job_id, "type": run_type, "trigger": "cli", "triggered_by": "t", "request_id": request_id}
    return aws.invoke("StartRunFunction", {**event, "time": "2026-12-01T08:00:00Z"})


def lock_of(job_id):
    return JobStore().get(job_id).active_run


def test_given_a_stored_job_with_a_filter_typo_then_the_run_fails_naming_it_and_the_next_fire_runs(aws):
    # Given a job stored before apply checked mappings, whose userName filter is misspelt
    prepared = prepare(aws, users=5)
    mapping = {**prepared.document["mapping"], "users": {**prepared.document["mapping"]["users"]}}
    mapping["users"]["userName"] = "{{ email | lowr }}"
    JobStore().put(operations.parse_job({**prepared.document, "mapping": mapping}))

    # When it is started
    answer = fire(aws, prepared.job_id, "a")

    # Then the run failed at once, naming the attribute and the filter, with no shard planned
    assert answer["status"] == "failed"
    assert answer["reason"] == "mapping.users.userName: unknown filter 'lowr'"
    assert RunStore().get(answer["run_id"]).run.shards_total is None  # never planned
    # And the lock is released: the next fire runs (and fails the same way), it is not skipped
    assert lock_of(prepared.job_id) is None
    assert fire(aws, prepared.job_id, "b")["status"] == "failed"


def test_given_a_wrong_target_token_then_the_run_fails_naming_the_refusal_but_a_simulate_runs(aws):
    prepared = prepare(aws, users=5)
    set_token(aws, "wrong-token")

    answer = fire(aws, prepared.job_id, "a")
    assert answer["status"] == "failed"
    assert answer["reason"].startswith(f"target.token_secret: the target {aws.scim.url} refused the credentials")
    assert "HTTP 401" in answer["reason"]
    assert lock_of(prepared.job_id) is None
    # a simulate run never calls the target: it is not held back by the target's credentials
    assert fire(aws, prepared.job_id, "s", run_type="simulate")["status"] == "running"


def test_given_a_deleted_secret_then_the_run_fails_naming_the_secret(aws):
    prepared = prepare(aws, users=5)
    boto3.client("secretsmanager").delete_secret(SecretId=SECRET_NAME, ForceDeleteWithoutRecovery=True)
    from syncjobs.store import secrets

    secrets.forget()
    answer = fire(aws, prepared.job_id, "a")
    assert answer["status"] == "failed"
    assert answer["reason"] == f"target.token_secret: secret '{SECRET_NAME}' does not exist"
    assert lock_of(prepared.job_id) is None


def test_given_an_unexpected_error_after_the_lock_then_the_run_fails_with_it_and_the_lock_is_released(aws, monkeypatch):
    prepared = prepare(aws, users=5)

    def broken(*_args, **_kwargs):
        raise RuntimeError("the plan could not be written")

    monkeypatch.setattr(start_run_module, "save_plans", broken)
    answer = fire(aws, prepared.job_id, "a")

    assert answer["status"] == "failed"
    assert answer["reason"] == "start failed: RuntimeError: the plan could not be written"
    assert lock_of(prepared.job_id) is None
    assert RunStore().get(answer["run_id"]).run.ended_at is not None


def test_given_a_throttled_call_after_the_lock_then_start_run_raises_and_its_retry_carries_the_same_run_on(
    aws, monkeypatch
):
    # Given DynamoDB throttling the first attempt at recording the plan
    prepared = prepare(aws, users=5)
    original, calls = start_run_module.save_plans, []

    def throttled_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise TransientStoreError("writing the plan: ThrottlingException: Rate exceeded")
        return original(*args, **kwargs)

    monkeypatch.setattr(start_run_module, "save_plans", throttled_once)

    # When the start fails, the run keeps its lock for the retry
    with pytest.raises(TransientStoreError):
        fire(aws, prepared.job_id, "a")
    (run,) = RunStore().list_for_job(prepared.job_id)
    assert run.status is RunStatus.QUEUED
    assert lock_of(prepared.job_id) == run.run_id

    # Then the retried invocation (the same event) starts that very run
    answer = fire(aws, prepared.job_id, "a")
    assert (answer["run_id"], answer["status"]) == (run.run_id, "running")
    assert len(RunStore().list_for_job(prepared.job_id)) == 1


def test_given_start_run_throttled_through_every_async_retry_then_the_destination_records_a_failed_run(
    aws, monkeypatch
):
    # Given DynamoDB throttling start_run's plan on every attempt, and Lambda's retries 50 ms apart
    prepared = prepare(aws, users=5)
    aws.async_invoker.retry_delay_s = 0.05

    def throttled(*_args, **_kwargs):
        raise TransientStoreError("writing the plan: ThrottlingException: Rate exceeded")

    monkeypatch.setattr(start_run_module, "save_plans", throttled)

    # When the admin API asks for a run (an asynchronous invocation of start_run)
    started = operations.request_run(prepared.job_id, "read", "ada", "api", "req-1")
    aws.lambda_api.drain()

    # Then after three attempts the on-failure destination failed the run with the error, and freed the job
    run = RunStore().get(started.run_id).run
    assert run.status is RunStatus.FAILED
    assert run.reason == (
        "start_run failed 3 times: TransientStoreError: writing the plan: ThrottlingException: Rate exceeded"
    )
    assert lock_of(prepared.job_id) is None
    (record,) = aws.async_invoker.failed
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"] == aws.function_arn("StartRunFunction") + ":$LATEST"
    assert aws.poller_errors() == []


def test_given_a_start_failing_before_its_run_exists_then_a_failed_run_is_recorded_beside_the_lock(aws):
    # Given a job, and a destination record of a start that failed before it created its run
    prepared = prepare(aws, users=5)
    payload = {"job_id": prepared.job_id, "type": "read", "time": "2026-12-01T09:00:00Z"}
    record = {
        "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": payload,
        "responsePayload": {"errorType": "TransientStoreError", "errorMessage": "reading job: Throttling"},
    }

    # When it reaches start_run_failed, twice (a destination may deliver twice)
    first = aws.invoke("StartRunFailedFunction", record)
    second = aws.invoke("StartRunFailedFunction", record)

    # Then one failed run names the error, and the job is not locked by it
    assert first == second
    assert first["status"] == "failed"
    (run,) = RunStore().list_for_job(prepared.job_id)
    assert run.reason == "start_run failed 3 times: TransientStoreError: reading job: Throttling"
    assert lock_of(prepared.job_id) is None
