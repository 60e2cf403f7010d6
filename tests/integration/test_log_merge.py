"""Merged logs are built without holding them: a small log is one PUT, a large one an S3 multipart
upload of parts gathered a few counted parts at a time; a merge cut by its budget goes on from its saved
progress; a step done twice uploads the same part again. Every way, the file is byte for byte what
joining the header, the counted parts' logs in reading order and finalize's own lines gives."""

from __future__ import annotations

import importlib
import json
import math
import tracemalloc
from dataclasses import replace
from itertools import count

import boto3
import pytest

from syncjobs.deadline import Budget, OutOfTime
from syncjobs.engine.outcome_log import header
from syncjobs.models.outcome import OUTCOMES, Outcome
from syncjobs.store.log_merges import LogMerges
from syncjobs.store.objects import LogObjects, log_key, part_key
from syncjobs.store.runs import RunRecord, RunStore
from syncjobs.workflows.log_merge import BATCH, LOGS, UPLOAD_PART_BYTES, Manifests, _Merger, merge_logs
from syncjobs_local.demo import prepare
from syncjobs_local.iam import ledger
from syncjobs_local.lambda_events import LambdaContext, sqs_event
from syncjobs_local.stack import REGION
from tests.e2e.helpers import wait_until

PART_BYTES = 100 * 1024  # a synthetic counted part's log of one outcome
TAIL = b"users,u-gone,t-gone,,,\r\n"  # finalize's own line (a delete) at the end of the log


def run_to_end(aws, job_id: str) -> RunRecord:
    """Start a run and process its shard messages one by one, as the queue's event source would."""
    answer = aws.invoke(
        "StartRunFunction", {"job_id": job_id, "type": "read", "trigger": "cli", "triggered_by": "t", "request_id": "m"}
    )
    sqs = boto3.client("sqs")
    url = aws.resources.name("ShardQueue")
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"]).get(
        "Messages", []
    ):
        event = sqs_event(messages, aws.resources.attr("ShardQueue", "Arn"), REGION)
        assert aws.invoke("RunShardFunction", event)["batchItemFailures"] == []
        sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
    return RunStore().get(str(answer["run_id"]))


def joined_in_memory(record: RunRecord, outcome: str) -> bytes:
    """What finalize wrote before logs were streamed: every counted part's log read, joined, one PUT."""
    counted = RunStore().counted_parts(record)

    def in_order(part: str) -> tuple[str, int]:
        shard, _, number = part.partition(".")
        return shard, int(number or 0)

    logs, fmt = LogObjects(), record.job.log_format
    parts = []
    for part in sorted(counted, key=in_order):
        key = part_key(record.run.run_id, part, counted[part], f"{outcome}.{fmt}")
        if logs.exists(key):
            parts.append(logs.get(key))
    data = b"".join(parts)
    return header(fmt) + data if data else b""


def synthetic_run(aws, record: RunRecord, run_id: str, parts: int) -> tuple[RunRecord, Manifests, bytes]:
    """A run of `parts` counted parts whose created logs hold PART_BYTES each (and whose other
    outcomes have none): its record, manifests and the created log finalize must write."""
    logs = LogObjects()
    manifests: Manifests = []
    bodies = []
    for i in range(parts):
        line = f"users,u{i},t{i},{i},,".encode() + b"x" * 60 + b"\r\n"
        body = (line * (PART_BYTES // len(line) + 1))[:PART_BYTES]
        part = f"{i:05d}"
        logs.put(part_key(run_id, part, "a1", "created.csv"), body)
        manifests.append((part, "a1", {"outcomes": ["created"]}))
        bodies.append(body)
    synthetic = replace(record, run=record.run.model_copy(update={"run_id": run_id}))
    return synthetic, manifests, header("csv") + b"".join(bodies) + TAIL


def merged(record: RunRecord, outcome: str = "created") -> bytes:
    return LogObjects().get(log_key(record.run.run_id, outcome, record.job.log_format))


def cut_after(checks: int) -> Budget:
    """A budget that covers `checks` batches, then none (time as the merge consumes it)."""
    calls = count()
    return Budget(lambda: math.inf if next(calls) < checks else 0.0, total_s=math.inf, reserve_s=0.0)


def operations(function: str) -> list[str]:
    return [call.operation for call in ledger.calls() if call.function == function]


@pytest.fixture
def finished(aws) -> RunRecord:
    """A small real run, ended (csv logs, ids traced), whose record the synthetic runs borrow."""
    prepared = prepare(aws, users=30, shard_size=10, bad_rows=True)
    record = run_to_end(aws, prepared.job_id)
    assert record.run.status.is_final
    return record


def test_given_a_small_run_then_each_log_is_one_put_equal_to_the_in_memory_merge(aws, finished):
    # Then every log the run wrote equals what the in-memory merge wrote, byte for byte
    assert finished.run.log_keys
    for outcome, key in finished.run.log_keys.items():
        assert LogObjects().get(key) == joined_in_memory(finished, outcome)
    # And outcomes without lines have no log
    for outcome in OUTCOMES:
        if outcome.value not in finished.run.log_keys:
            assert joined_in_memory(finished, outcome.value) == b""
    # And no log needed a multipart upload: one PUT each
    calls = [c.operation for c in ledger.calls()]
    assert "s3.CreateMultipartUpload" not in calls
    assert "s3.UploadPart" not in calls


def test_given_a_log_larger_than_a_part_then_it_is_uploaded_in_parts_byte_identical(aws, finished):
    # Given a run whose created log is 24 MiB in 240 counted parts
    record, manifests, expected = synthetic_run(aws, finished, "merge-large", 240)
    ledger.clear()
    # When its logs are merged
    with aws.acting_as("AdvanceFunction"):
        LogMerges().begin(record.run.run_id, LOGS, "")
        keys = merge_logs(record, manifests, {Outcome.CREATED: TAIL}, LogObjects(), Budget.unlimited())
    # Then the created log is the header, the parts in order and the tail, byte for byte
    assert keys == {"created": log_key("merge-large", "created", "csv")}
    assert merged(record) == expected
    # And it went up in parts of at least UPLOAD_PART_BYTES but the last, one upload completed once
    calls = operations("AdvanceFunction")
    assert calls.count("s3.CreateMultipartUpload") == 1
    assert calls.count("s3.UploadPart") == 3  # 82 counted parts make a part's 8 MiB: 82, 82, then 76 and the tail
    assert calls.count("s3.CompleteMultipartUpload") == 1
    assert "s3.PutObject" not in calls
    # And the file downloads under its name
    head = boto3.client("s3").head_object(Bucket=aws.resources.name("LogBucket"), Key=keys["created"])
    assert head["ContentDisposition"] == f'attachment; filename="{record.run.job_id}-merge-large-created.csv"'
    assert head["ContentType"].startswith("text/csv")


def test_given_a_large_log_then_the_merge_holds_far_less_than_the_file(aws, finished):
    # Given a run whose created log is 125 MiB
    record, manifests, expected = synthetic_run(aws, finished, "merge-memory", 1280)
    del expected  # the test holds no copy while measuring
    with aws.acting_as("AdvanceFunction"):
        LogMerges().begin(record.run.run_id, LOGS, "")
        # When the parts are merged and uploaded (everything but the Complete, which the local S3
        # answers by joining the parts in this very process)
        tracemalloc.start()
        try:
            with pytest.raises(OutOfTime):
                merge_logs(record, manifests, {}, LogObjects(), cut_after(len(manifests) // BATCH - 1))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        state = LogMerges().get(record.run.run_id, LOGS)
        assert state is not None
        assert len(state.etags) >= 10
        # Then the peak, the local S3 included, stayed well below the file's size
        # (measured: about 43 MiB, the same for a 62 MiB and a 94 MiB log: the merge holds one part
        # being gathered and one batch of counted parts, the local S3 and HTTP stack copies of a part)
        assert peak < 56 * 1024 * 1024, peak
        # And the merge then ends with the whole file
        merge_logs(record, manifests, {}, LogObjects(), Budget.unlimited())
    assert len(merged(record)) == len(header("csv")) + 1280 * PART_BYTES


def test_given_a_merge_cut_by_its_budget_then_a_later_call_goes_on_to_the_same_bytes(aws, finished):
    # Given a run whose created log is 20 MiB
    record, manifests, expected = synthetic_run(aws, finished, "merge-cut", 200)
    with aws.acting_as("AdvanceFunction"):
        LogMerges().begin(record.run.run_id, LOGS, "")
        # When the first call's budget covers six batches of parts
        with pytest.raises(OutOfTime):
            merge_logs(record, manifests, {Outcome.CREATED: TAIL}, LogObjects(), cut_after(6))
        # Then what it uploaded is saved: one part, and the counted part to read next
        state = LogMerges().get(record.run.run_id, LOGS)
        assert state is not None
        assert state.outcome == OUTCOMES.index(Outcome.CREATED)
        assert len(state.etags) == 1
        assert state.upload_id
        assert 0 < state.next_part < 6 * BATCH
        # When a later call (a fresh invocation) goes on
        keys = merge_logs(record, manifests, {Outcome.CREATED: TAIL}, LogObjects(), Budget.unlimited())
    # Then the log is the same bytes as a merge in one go
    assert keys == {"created": log_key("merge-cut", "created", "csv")}
    assert merged(record) == expected
    done = LogMerges().get(record.run.run_id, LOGS)
    assert done is not None
    assert (done.outcome, done.upload_id) == (len(OUTCOMES), None)


def test_given_a_step_retried_then_its_part_is_uploaded_again_and_the_bytes_are_the_same(aws, finished):
    # Given a merge cut after it uploaded two parts
    record, manifests, expected = synthetic_run(aws, finished, "merge-retry", 200)
    merges = LogMerges()
    with aws.acting_as("AdvanceFunction"):
        merges.begin(record.run.run_id, LOGS, "")
        with pytest.raises(OutOfTime):
            merge_logs(record, manifests, {Outcome.CREATED: TAIL}, LogObjects(), cut_after(11))
        state = merges.get(record.run.run_id, LOGS)
        assert state is not None
        assert len(state.etags) == 2
        # And the invocation that uploaded the second part died before its progress was saved
        merges.save(record.run.run_id, LOGS, replace(state, etags=state.etags[:1], next_part=_after_first(state)))
        ledger.clear()
        # When the merge goes on
        merge_logs(record, manifests, {Outcome.CREATED: TAIL}, LogObjects(), Budget.unlimited())
    # Then the second part was uploaded again under its number, and the file is the same bytes
    assert operations("AdvanceFunction").count("s3.UploadPart") == 2
    assert merged(record) == expected


def _after_first(state) -> int:
    """The counted part after the first uploaded part (parts of PART_BYTES, cut at UPLOAD_PART_BYTES)."""
    return math.ceil((UPLOAD_PART_BYTES - len(header("csv"))) / PART_BYTES)


def test_given_a_merger_that_lost_the_race_then_its_upload_is_aborted_and_the_file_is_whole(aws, finished):
    # Given a merger that read the merge's progress at its start
    record, manifests, expected = synthetic_run(aws, finished, "merge-race", 120)
    with aws.acting_as("AdvanceFunction"):
        LogMerges().begin(record.run.run_id, LOGS, "")
        late = _Merger(record, manifests, {Outcome.CREATED: TAIL}, LogObjects(), Budget.unlimited(), LOGS)
        # And another merger that merged everything meanwhile
        merge_logs(record, manifests, {Outcome.CREATED: TAIL}, LogObjects(), Budget.unlimited())
        ledger.clear()
        # When the late one goes on from what it read
        keys = late.merge()
    # Then its own upload lost the claim and was aborted, and it follows the winner
    assert operations("AdvanceFunction").count("s3.AbortMultipartUpload") == 1
    assert keys == {"created": log_key("merge-race", "created", "csv")}
    # And the file is whole, and no upload is left open
    assert merged(record) == expected
    s3 = boto3.client("s3")
    assert s3.list_multipart_uploads(Bucket=aws.resources.name("LogBucket")).get("Uploads", []) == []


def test_given_a_finalize_cut_while_merging_then_the_advance_function_hands_it_on_to_itself(aws):
    # Given a run whose 20 shards are counted, each with a 1 MiB created log (20 MiB in all)
    prepared = prepare(aws, users=200, shard_size=10, bad_rows=False)
    answer = aws.invoke(
        "StartRunFunction", {"job_id": prepared.job_id, "type": "read", "trigger": "cli", "triggered_by": "t"}
    )
    run_id = str(answer["run_id"])
    aws.refresh()  # its shard messages are dropped: the test counts its shards itself
    record = RunStore().get(run_id)
    shards = record.run.shards_total
    assert shards == 20
    logs, bodies = LogObjects(), []
    with aws.acting_as("RunShardFunction"):
        for i in range(shards):
            shard = f"{i:05d}"
            body = (f"users,u{i},t{i},{i},,\r\n".encode() * 60_000)[: 1024 * 1024]
            logs.put(part_key(run_id, shard, "a1", "created.csv"), body)
            manifest = {"outcomes": ["created"], "failures": [], "entity_type": "users"}
            logs.put(part_key(run_id, shard, "a1", "manifest.json"), json.dumps(manifest).encode())
            RunStore().complete_shard(run_id, shard, "a1", {"users": {"created": 1}}, None)
            bodies.append(body)
    # When the advance function finalizes it, with time for one batch of parts only (its clock
    # stands still until the merge's second batch, then shows the invocation nearly over)
    readings = count()
    context = LambdaContext(
        aws.function_names()["AdvanceFunction"],
        REGION,
        aws.resources.resolver.account,
        timeout_s=60,
        clock=lambda: 0.0 if next(readings) < 3 else 59.0,
    )
    advance_handler = importlib.import_module("advance_handler")  # the stack loaded the function's module
    with aws.acting_as("AdvanceFunction"):
        first = advance_handler._finalize(run_id, context)
    # Then it handed the rest on to itself, and that invocation ended the run
    assert first == {"finalized": run_id, "status": None, "handed_on": True}
    wait_until(lambda: RunStore().status(run_id).is_final, "the handed-on finalize ends the run", timeout_s=120)
    # And the created log is every shard's log in order, byte for byte
    ended = RunStore().get(run_id)
    assert LogObjects().get(ended.run.log_keys["created"]) == header("csv") + b"".join(bodies)
