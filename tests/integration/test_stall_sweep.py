"""The sweep ends runs that stall: failed with the reason, the lock released, the logs of what was
counted merged, nothing deleted; a run that moved meanwhile, or a young one, is left alone; a
stopping run whose shards are gone ends stopped."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3

from syncjobs.admin import operations
from syncjobs.models.run import RunStatus
from syncjobs.store.entity_state import EntityStateStore
from syncjobs.store.jobs import JobStore
from syncjobs.store.runs import RunStore
from syncjobs.workflows.advance import sweep
from syncjobs_local.demo import prepare
from syncjobs_local.lambda_events import sqs_event
from syncjobs_local.stack import REGION

LATER = timedelta(minutes=31)


def start(aws, job_id: str, request: str = "a") -> str:
    answer = aws.invoke(
        "StartRunFunction",
        {"job_id": job_id, "type": "read", "trigger": "cli", "triggered_by": "t", "request_id": request},
    )
    return str(answer["run_id"])


def run_one_shard(aws) -> None:
    """Process one queued shard message, as the queue's event source mapping would; the rest stay queued
    (their messages are what gets lost in a real stall)."""
    sqs = boto3.client("sqs")
    url = aws.resources.name("ShardQueue")
    out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"])
    (message,) = out["Messages"]
    answer = aws.invoke("RunShardFunction", sqs_event([message], aws.resources.attr("ShardQueue", "Arn"), REGION))
    assert answer["batchItemFailures"] == []
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_given_a_run_whose_shards_were_lost_then_the_sweep_fails_it_with_the_reason(aws):
    # Given a job whose earlier run provisioned users (a later run that stalls must delete none of them)
    prepared = prepare(aws, users=20, shard_size=10, bad_rows=False)
    first = start(aws, prepared.job_id, "first")
    run_one_shard(aws)
    run_one_shard(aws)
    assert RunStore().get(first).run.status.is_final
    provisioned = EntityStateStore().provisioned(prepared.job_id, "users")
    # And a second run of which one shard of two is counted and the other is lost
    run_id = start(aws, prepared.job_id, "second")
    run_one_shard(aws)
    before = RunStore().get(run_id)
    assert before.run.status is RunStatus.RUNNING
    assert before.run.shards_done == 1

    # When the sweep looks 29 minutes after the last progress: nothing yet
    progress = before.run.progress_at
    assert progress is not None
    assert sweep(progress + timedelta(minutes=29))["stalled"] == []
    # and when it looks 31 minutes after
    swept = sweep(progress + LATER)

    # Then the run is failed with the reason, the lock released, the counted shard's logs merged
    assert swept["stalled"] == [run_id]
    after = RunStore().get(run_id).run
    assert after.status is RunStatus.FAILED
    assert after.reason == "no progress for 31 minutes; 1 of 2 shards counted"
    assert after.counts == before.run.counts
    assert set(after.log_keys)
    assert all(key.startswith(f"runs/{run_id}/logs/swept/") for key in after.log_keys.values())
    assert "no deletes" in (after.deletes_note or "")
    assert JobStore().get(prepared.job_id).active_run is None
    # And nothing was deleted
    assert EntityStateStore().provisioned(prepared.job_id, "users") == provisioned
    # And a second sweep changes nothing; the next fire runs
    assert sweep(progress + LATER + LATER)["stalled"] == []
    assert RunStore().get(start(aws, prepared.job_id, "third")).run.status is RunStatus.RUNNING


def test_given_a_run_that_moved_since_the_sweep_read_it_then_it_is_not_ended(aws, monkeypatch):
    # Given a run that looks stalled when the sweep reads it
    prepared = prepare(aws, users=20, shard_size=10, bad_rows=False)
    run_id = start(aws, prepared.job_id)
    progress = RunStore().get(run_id).run.progress_at
    assert progress is not None

    # When a shard is counted between the sweep's read and its end of the run
    from syncjobs.workflows import stall_sweep

    real_end = stall_sweep.end_stalled

    def shard_counted_meanwhile(record, *args):
        run_one_shard(aws)
        return real_end(record, *args)

    monkeypatch.setattr(stall_sweep, "end_stalled", shard_counted_meanwhile)
    swept = sweep(progress + LATER)

    # Then the run is still running with its lock
    assert swept["stalled"] == []
    assert RunStore().get(run_id).run.status is RunStatus.RUNNING
    assert JobStore().get(prepared.job_id).active_run == run_id


def test_given_a_stopping_run_with_nothing_in_flight_then_the_sweep_ends_it_stopped(aws):
    # Given a run stopped before any of its shards ran, whose shard messages are gone
    prepared = prepare(aws, users=20, shard_size=10, bad_rows=False)
    run_id = start(aws, prepared.job_id)
    operations.stop_run(run_id, "admin@example.com")
    boto3.client("sqs").purge_queue(QueueUrl=aws.resources.name("ShardQueue"))
    stopping = RunStore().get(run_id).run
    assert stopping.status is RunStatus.STOPPING
    assert stopping.stop_requested_at is not None

    # When the sweep looks a minute later: the shards may still notice the stop
    assert sweep(stopping.stop_requested_at + timedelta(minutes=1))["stalled"] == []
    # and three minutes later
    swept = sweep(stopping.stop_requested_at + timedelta(minutes=3))

    # Then it is stopped, with the reason, and the lock released
    assert swept["stalled"] == [run_id]
    after = RunStore().get(run_id).run
    assert after.status is RunStatus.STOPPED
    assert after.reason == "stopped; nothing left in flight: 0 of 2 shards counted"
    assert JobStore().get(prepared.job_id).active_run is None


def test_a_young_run_and_runs_of_other_jobs_are_left_alone(aws):
    prepared = prepare(aws, users=5)
    run_id = start(aws, prepared.job_id)
    assert sweep(datetime.now(UTC))["stalled"] == []
    assert RunStore().get(run_id).run.status is RunStatus.RUNNING
    assert json.dumps(sweep(datetime.now(UTC) + timedelta(minutes=5)))
