"""start_run and shard accounting against the local AWS: one active run per job, duplicate fires and
duplicate shard completions change nothing."""

import json
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from syncjobs.models.run import RunStatus
from syncjobs.store.errors import Conflict
from syncjobs.store.runs import RunStore
from syncjobs_local.demo import prepare


def fire(aws, job_id, **extra):
    return aws.invoke("StartRunFunction", {"job_id": job_id, "type": "read", **extra})


def queued_messages(aws) -> list[dict]:
    sqs = boto3.client("sqs")
    bodies = []
    while True:
        out = sqs.receive_message(QueueUrl=aws.resources.name("ShardQueue"), MaxNumberOfMessages=10)
        if not out.get("Messages"):
            return bodies
        bodies.extend(json.loads(m["Body"]) for m in out["Messages"])


def test_given_ten_concurrent_fires_then_one_run_starts_and_nine_are_recorded_skipped(aws):
    job_id = prepare(aws, users=20).job_id
    with ThreadPoolExecutor(10) as pool:
        answers = list(
            pool.map(lambda i: fire(aws, job_id, trigger="cli", triggered_by="t", request_id=f"r{i}"), range(10))
        )
    statuses = sorted(a["status"] for a in answers)
    assert statuses == ["running"] + ["skipped"] * 9
    active = next(a["run_id"] for a in answers if a["status"] == "running")
    runs = RunStore().list_for_job(job_id)
    assert len(runs) == 10
    assert all(f"has an active run {active}" in (r.reason or "") for r in runs if r.status is RunStatus.SKIPPED)


def test_given_the_same_scheduled_fire_delivered_twice_then_there_is_one_run(aws):
    job_id = prepare(aws, users=20).job_id
    first = fire(aws, job_id, time="2026-11-21T08:00:00Z")
    second = fire(aws, job_id, time="2026-11-21T08:00:00Z")
    assert first["run_id"] == second["run_id"]
    assert second["status"] == "running"
    assert len(RunStore().list_for_job(job_id)) == 1
    shard_ids = [m["shard"]["shard_id"] for m in queued_messages(aws)]
    assert sorted(set(shard_ids)) == ["00000"]  # the duplicate re-queues the same shard, nothing new


def test_given_a_shard_completed_twice_then_it_counts_once(aws):
    job_id = prepare(aws, users=20).job_id
    run_id = fire(aws, job_id, trigger="cli", triggered_by="t", request_id="x")["run_id"]
    counts = {"users": {"created": 3, "failed": 1}}
    runs = RunStore()
    with aws.acting_as("RunShardFunction"):
        after = runs.complete_shard(run_id, "00000", "attempt-a", counts, None)
        with pytest.raises(Conflict):
            runs.complete_shard(run_id, "00000", "attempt-b", counts, None)
    final = runs.get(run_id)
    assert final.run.counts["users"]["created"] == 3
    assert final.run.shards_done == 1
    assert after.run.shards_done == 1
    assert runs.counted_parts(final) == {"00000": "attempt-a"}
    assert runs.attempt_of(final, "00000") == "attempt-a"
    assert runs.is_counted(final, "00000")
    assert not runs.is_counted(final, "00001")


def test_given_an_unknown_job_then_start_run_says_so(aws):
    from syncjobs.store.errors import NotFound

    with pytest.raises(NotFound, match="job nope does not exist"):
        fire(aws, "nope")


def test_given_a_missing_export_then_the_run_fails_with_the_reason_and_releases_the_job(aws):
    prepared = prepare(aws, users=5)
    job_id = prepared.job_id
    boto3.client("s3").delete_object(Bucket=prepared.bucket, Key=prepared.key)
    answer = fire(aws, job_id, trigger="cli", triggered_by="t", request_id="a")
    assert answer["status"] == "failed"
    assert answer["reason"] == f"source.key: the export s3://{prepared.bucket}/{prepared.key} does not exist"
    assert fire(aws, job_id, trigger="cli", triggered_by="t", request_id="b")["status"] == "failed"  # not skipped


def test_the_first_delete_plan_claimed_is_the_one_every_finalizer_uses(aws):
    job_id = prepare(aws, users=5).job_id
    run_id = fire(aws, job_id, trigger="cli", triggered_by="t", request_id="p")["run_id"]
    runs = RunStore()
    with aws.acting_as("RunShardFunction"):  # finalize runs in the shard that completes the run
        assert runs.claim_delete_plan(run_id, "runs/x/deletes-a.json") == "runs/x/deletes-a.json"
        assert runs.claim_delete_plan(run_id, "runs/x/deletes-b.json") == "runs/x/deletes-a.json"
    assert runs.get(run_id).delete_plan == "runs/x/deletes-a.json"
