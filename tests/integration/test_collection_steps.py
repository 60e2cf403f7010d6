"""A collection run's bookkeeping when deliveries repeat and workers die between two writes (moto,
resources from template.yaml): each step's end is recorded once, the next step is asked for with
the same request every time, and the last step's end releases the collection's lock once.

The workflows are called here as their functions call them, with those functions' IAM policies:
a collection starts in StartRunFunction, steps end and the sweep runs in AdvanceFunction, an
approver decides through a mail link (LinksFunction), an admin stops through the API."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import yaml

from syncjobs.admin.operations import parse_job
from syncjobs.models.approval import Approval, ApprovalStatus
from syncjobs.models.collection import CollectionDefinition, CollectionStartRequest
from syncjobs.models.quarantine import Quarantine
from syncjobs.models.run import Run, RunStatus, RunType, StartRequest, Trigger, run_id_for
from syncjobs.store import codec
from syncjobs.store.approvals import ApprovalStore
from syncjobs.store.collections import CollectionStore
from syncjobs.store.errors import Conflict
from syncjobs.store.runs import RunStore
from syncjobs.workflows.approvals import ApprovalRefused, decide
from syncjobs.workflows.collections import (
    current_step_run,
    redrive,
    start_collection,
    step_ended,
    stop_collection_run,
)
from syncjobs.workflows.start_run import start_run
from syncjobs_local.demo import EXAMPLE_JOB, prepare

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


class Died(RuntimeError):
    pass


def collection(on_failure: str = "abort") -> CollectionDefinition:
    steps = [{"job_id": j, "on_failure": on_failure} for j in ("a", "b", "c")]
    return CollectionDefinition.model_validate({"collection_id": "col", "name": "Col", "steps": steps})


def request(request_id: str = "r1") -> CollectionStartRequest:
    return CollectionStartRequest(
        collection_id="col", trigger=Trigger.API, triggered_by="ada", request_id=request_id, requested_at=T0
    )


def ended(step: StartRequest, status: RunStatus, minutes: int) -> Run:
    """The run a step's request started, at its final status."""
    return Run(
        run_id=f"run-{step.collection_step}",
        job_id=step.job_id,
        status=status,
        run_type=RunType.READ,
        trigger=Trigger.COLLECTION,
        triggered_by=step.triggered_by,
        request_id=step.request_id,
        created_at=step.requested_at,
        ended_at=T0 + timedelta(minutes=minutes),
        counts={"users": {"created": 3, "updated": 0, "deleted": 0, "skipped": 0, "failed": 0}},
        collection_run_id=step.collection_run_id,
        collection_step=step.collection_step,
    )


def test_steps_advance_once_whatever_is_delivered_twice_or_dies_midway(aws) -> None:
    # Given a three-step collection started once (and its start delivered again)
    CollectionStore().put(collection())
    asked: list[StartRequest] = []
    with aws.acting_as("StartRunFunction"):
        crun = start_collection(request(), asked.append)
        assert start_collection(request(), asked.append).collection_run_id == crun.collection_run_id
    assert [r.collection_step for r in asked] == [0, 0]  # the same step 0, asked twice: one run
    assert asked[0] == asked[1]

    # When step 1 ends and the worker dies after recording it, before asking for step 2
    def die(_: StartRequest) -> None:
        raise Died

    first = ended(asked[0], RunStatus.SUCCEEDED, 1)
    with aws.acting_as("AdvanceFunction"), pytest.raises(Died):
        step_ended(first, die)

    # Then the redelivered end asks for step 2, and so does a third delivery: the same request
    with aws.acting_as("AdvanceFunction"):
        step_ended(first, asked.append)
        step_ended(first, asked.append)
    assert [r.collection_step for r in asked[2:]] == [1, 1]
    assert asked[2] == asked[3]
    assert asked[2].requested_at == first.ended_at
    assert CollectionStore().get_run(crun.collection_run_id).run.current == 1

    # When step 2 fails (abort), delivered twice
    second = ended(asked[2], RunStatus.FAILED, 2)
    with aws.acting_as("AdvanceFunction"):
        step_ended(second, asked.append)
        step_ended(second, asked.append)
        step_ended(first, asked.append)  # and a very late copy of step 1's end

    # Then the collection failed once, step 3 was never asked for, and its lock is free again
    final = CollectionStore().get_run(crun.collection_run_id).run
    assert final.status is RunStatus.FAILED
    assert [s.status for s in final.steps] == ["succeeded", "failed", "not_run"]
    assert len(asked) == 4
    assert CollectionStore().get("col").active_run is None
    assert CollectionStore().get("col").last_status == "failed"
    with aws.acting_as("StartRunFunction"):
        nxt = start_collection(request("r2"), asked.append)
    assert nxt.status is RunStatus.RUNNING


def test_a_second_fire_while_the_collection_runs_is_skipped(aws) -> None:
    CollectionStore().put(collection())
    asked: list[StartRequest] = []
    later = request("r2").model_copy(update={"requested_at": T0 + timedelta(minutes=1)})
    with aws.acting_as("StartRunFunction"):
        start_collection(request("r1"), asked.append)
        skipped = start_collection(later, asked.append)
    assert skipped.status is RunStatus.SKIPPED
    assert "has an active run" in (skipped.reason or "")
    assert len(asked) == 1


def test_two_approvers_deciding_at_once_decide_once(aws) -> None:
    # Given a pending approval request
    approval = Approval(
        approval_id="apr-1",
        subject_kind="job",
        subject_id="j",
        run_type=RunType.READ,
        trigger=Trigger.SCHEDULE,
        triggered_by="eventbridge",
        request_id="x",
        requested_at=T0,
        status=ApprovalStatus.PREVIEWING,
        approvers=["a@example.com", "b@example.com"],
        preview_id="p",
    )
    store = ApprovalStore()
    store.create(approval)
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert store.transition("apr-1", ApprovalStatus.PREVIEWING, ApprovalStatus.PENDING, {"expires_at": future})

    # When one approves and the other rejects at the same moment
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def act(who: str, approve: bool) -> None:
        barrier.wait()
        try:
            with aws.acting_as("LinksFunction"):
                outcomes[who] = decide("apr-1", approve, by=who, via="mail link").status.value
        except ApprovalRefused as err:
            outcomes[who] = f"refused {err.status}"

    threads = [threading.Thread(target=act, args=a) for a in (("a@example.com", True), ("b@example.com", False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # Then exactly one decision stands, recorded with who made it
    assert list(outcomes.values()).count("refused 409") == 1
    decided = store.get("apr-1")
    assert outcomes[str(decided.decided_by)] == decided.status.value


def test_a_stopped_collection_ends_stopped_when_its_running_step_ends(aws) -> None:
    # Given a running collection whose first step runs
    CollectionStore().put(collection("continue"))
    asked: list[StartRequest] = []
    with aws.acting_as("StartRunFunction"):
        crun = start_collection(request(), asked.append)

    # (the step's run is the one its request names)
    assert current_step_run(crun) == run_id_for(asked[0])

    # When an admin stops it, and a stop arrives twice
    with aws.acting_as("AdminApiFunction"):
        stop_collection_run(crun.collection_run_id, "ada")
        stop_collection_run(crun.collection_run_id, "ada")

    # Then the running step's end ends the collection: stopped, later steps not run, none asked for
    with aws.acting_as("AdvanceFunction"):
        step_ended(ended(asked[0], RunStatus.STOPPED, 1), asked.append)
    final = CollectionStore().get_run(crun.collection_run_id).run
    assert final.status is RunStatus.STOPPED
    assert [s.status for s in final.steps] == ["stopped", "not_run", "not_run"]
    assert final.reason == "stopped by ada; steps 2-3 did not run"
    assert len(asked) == 1
    with aws.acting_as("AdminApiFunction"), pytest.raises(Conflict):
        stop_collection_run(crun.collection_run_id, "ada")


def test_the_sweep_moves_on_a_collection_whose_step_start_or_end_was_lost(aws) -> None:
    # Given a collection whose first step's start was lost (no run appeared)
    CollectionStore().put(collection())
    asked: list[StartRequest] = []
    with aws.acting_as("StartRunFunction"):
        crun = start_collection(request(), asked.append)

    # When the sweep runs: not before the step has been quiet for 10 minutes, then it asks again
    with aws.acting_as("AdvanceFunction"):
        assert redrive(T0 + timedelta(minutes=5), asked.append) == []
        assert redrive(T0 + timedelta(minutes=11), asked.append) == [crun.collection_run_id]
    assert asked[1] == asked[0]  # the very same request: one run, however often asked

    # Given the step's run then ended but its stream record was lost
    job = parse_job({**yaml.safe_load(EXAMPLE_JOB.read_text()), "job_id": "a"})
    run = ended(asked[0], RunStatus.SUCCEEDED, 1).model_copy(update={"run_id": run_id_for(asked[0])})
    RunStore().put_skipped(run, job)  # a plain conditional put of the final run item

    # When the sweep runs again, it records the end and asks for step 2, once
    with aws.acting_as("AdvanceFunction"):
        assert redrive(T0 + timedelta(minutes=12), asked.append) == [crun.collection_run_id]
    assert [r.collection_step for r in asked] == [0, 0, 1]
    assert CollectionStore().get_run(crun.collection_run_id).run.current == 1


@pytest.mark.parametrize(("trigger", "held"), [(Trigger.SCHEDULE, True), (Trigger.API, False)])
def test_a_quarantined_job_is_held_back_in_a_scheduled_collection_only(aws, trigger: Trigger, held: bool) -> None:
    # Given a quarantined job (next attempt in a day) as the first step of a collection
    job_id = prepare(aws, users=3, subscriber=None, bad_rows=False).job_id
    quarantine = Quarantine(since=T0, reason="every entity failed: HTTP 401", next_attempt_at=T0 + timedelta(days=1))
    boto3.client("dynamodb").update_item(
        TableName=aws.resources.name("JobsTable"),
        Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}},
        UpdateExpression="SET quarantine = :q",
        ExpressionAttributeValues={":q": codec.dump(quarantine.model_dump(mode="json"))},
    )
    CollectionStore().put(
        CollectionDefinition.model_validate({"collection_id": "col", "name": "Col", "steps": [{"job_id": job_id}]})
    )

    # When the collection is fired by its schedule (or run by an admin)
    started: list[Run] = []
    with aws.acting_as("StartRunFunction"):
        start_collection(request().model_copy(update={"trigger": trigger}), lambda r: started.append(start_run(r)))

    # Then the step is skipped as its own scheduled fire would be; an admin's run goes through
    (step,) = started
    assert (step.status is RunStatus.SKIPPED) is held
    if held:
        assert "quarantined since 2026-11-23 08:00 UTC" in (step.reason or "")
