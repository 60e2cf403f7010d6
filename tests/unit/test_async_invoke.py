"""The local stand-in for Lambda's asynchronous invocation: retries, then the on-failure destination
with Lambda's destination record, or the error for the caller to record."""

from datetime import UTC, datetime

import pytest

from syncjobs_local.async_invoke import AsyncConfig, AsyncInvoker, destination_record

ARN = "arn:aws:lambda:us-east-1:123456789012:function:StartRunFunction"
DEST = "arn:aws:lambda:us-east-1:123456789012:function:StartRunFailedFunction"


def invoker(fails: int, config: AsyncConfig) -> tuple[AsyncInvoker, list[tuple[str, dict]]]:
    calls: list[tuple[str, dict]] = []

    def invoke(logical_id, event):
        calls.append((logical_id, event))
        if logical_id == "StartRun" and len(calls) <= fails:
            raise RuntimeError(f"attempt {len(calls)} failed")

    names = {ARN: "StartRun", DEST: "Failed"}
    return AsyncInvoker(invoke, lambda: {"StartRun": config}, lambda _: ARN, names.get, retry_delay_s=0), calls


def test_given_a_failure_then_a_retry_that_succeeds_ends_it():
    async_invoker, calls = invoker(fails=2, config=AsyncConfig(2, DEST))
    async_invoker.run("StartRun", {"job_id": "j"})
    assert [c[0] for c in calls] == ["StartRun"] * 3
    assert async_invoker.failed == []


def test_given_every_attempt_failing_then_the_destination_gets_lambdas_record():
    async_invoker, calls = invoker(fails=9, config=AsyncConfig(2, DEST))
    async_invoker.run("StartRun", {"job_id": "j"})
    assert [c[0] for c in calls] == ["StartRun"] * 3 + ["Failed"]
    record = calls[-1][1]
    assert record["requestPayload"] == {"job_id": "j"}
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responsePayload"] == {"errorMessage": "attempt 3 failed", "errorType": "RuntimeError"}


def test_given_no_destination_then_the_last_error_is_raised_for_the_caller_to_record():
    async_invoker, calls = invoker(fails=9, config=AsyncConfig(0, None))
    with pytest.raises(RuntimeError, match="attempt 1 failed"):
        async_invoker.run("StartRun", {})
    assert len(calls) == 1


def test_the_destination_record_has_lambdas_shape():
    record = destination_record({"a": 1}, ARN, 3, ValueError("bad"), datetime(2026, 12, 1, 8, 0, 1, 250000, UTC))
    assert record == {
        "version": "1.0",
        "timestamp": "2026-12-01T08:00:01.250Z",
        "requestContext": {
            "requestId": record["requestContext"]["requestId"],
            "functionArn": f"{ARN}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {"a": 1},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "bad", "errorType": "ValueError"},
    }


def test_a_template_event_invoke_config_is_read_with_lambdas_defaults():
    assert AsyncConfig.of({}) == AsyncConfig(2, None)
    props = {"MaximumRetryAttempts": 1, "DestinationConfig": {"OnFailure": {"Type": "Lambda", "Destination": DEST}}}
    assert AsyncConfig.of(props) == AsyncConfig(1, DEST)
