"""The `syncjobs` command for collections, approvals and quarantine, run as a separate process
against the local stack's admin API, with the same error behaviour as the rest."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from syncjobs.admin import operations
from syncjobs.models.approval import ApprovalStatus
from syncjobs.store.approvals import ApprovalStore
from syncjobs_local.demo import REPO_ROOT, prepare
from syncjobs_local.function_urls import LOCAL_CALLER
from tests.e2e.test_cli import cli

pytestmark = pytest.mark.e2e

EXAMPLE = REPO_ROOT / "examples" / "collections" / "nightly.yaml"


def collection_file(tmp_path: Path, **overrides: object) -> Path:
    document = yaml.safe_load(EXAMPLE.read_text())
    document.update(overrides)
    path = tmp_path / "collection.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_an_admin_runs_a_collection_and_decides_an_approval_from_the_terminal(stack, tmp_path: Path) -> None:
    # Given the example job, and the example collection holding it
    job_id = prepare(stack, users=20, bad_rows=False, subscriber=None).job_id
    path = collection_file(tmp_path)

    # collections apply / list / show
    applied = cli(stack, "collections", "apply", "-f", str(path))
    assert (applied.returncode, applied.stdout.strip()) == (0, "collection nightly applied (version 1)")
    assert "hr-to-scim (abort)" in cli(stack, "collections", "list").stdout
    shown = cli(stack, "collections", "show", "nightly")
    assert "it-admins@example.com (errors)" in shown.stdout

    # schedule set --collection: a rule for the collection
    scheduled = cli(stack, "schedule", "set", "nightly", "rate(1 hour)", "--collection")
    assert scheduled.returncode == 0
    assert scheduled.stdout.startswith("collection nightly scheduled: rate(1 hour) (read)")
    assert cli(stack, "schedule", "clear", "nightly", "--collection").returncode == 0

    # collections run --wait follows the steps to the end
    ran = cli(stack, "collections", "run", "nightly", "--wait")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "succeeded" in ran.stdout
    assert job_id in cli(stack, "collections", "runs", "nightly").stdout

    # When the job needs approval (a one-admin team: the admin who asks may approve) and an admin asks for a run
    definition = operations.show_job(job_id)[1].to_document()
    definition["approval"] = {"required": True, "approvers": ["approver@example.com"], "allow_self_approval": True}
    operations.apply_job(operations.parse_job(definition))
    asked = cli(stack, "run", job_id)
    assert asked.returncode == 0
    assert f"job {job_id} needs approval: request apr-" in asked.stdout
    deadline = time.monotonic() + 60
    while not (found := ApprovalStore().recent()) or found[0].status is not ApprovalStatus.PENDING:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    approval_id = found[0].approval_id

    # Then approvals list shows it pending with the preview's counts; approve starts the run
    listed = cli(stack, "approvals", "list", "--status", "pending")
    assert approval_id in listed.stdout
    assert "updated 20" in listed.stdout  # a resync would update the 20 users again: the preview says so
    approved = cli(stack, "approvals", "approve", approval_id)
    assert approved.returncode == 0
    assert approved.stdout.strip() == f"approval {approval_id}: approved by {LOCAL_CALLER}"
    again = cli(stack, "approvals", "reject", approval_id)
    assert again.returncode == 4
    assert "already approved" in again.stderr


def test_collection_approval_and_restart_errors_are_clear(stack, tmp_path: Path) -> None:
    # a collection naming a job that does not exist: exit 2, naming the step
    missing = cli(stack, "collections", "apply", "-f", str(collection_file(tmp_path)))
    assert missing.returncode == 2
    assert "steps.0.job_id: job hr-to-scim does not exist" in missing.stderr
    # a malformed collection: exit 2, naming the field
    bad = collection_file(tmp_path, steps=[{"job_id": "a", "on_failure": "retry"}], notification={"trigger": "default"})
    invalid = cli(stack, "collections", "apply", "-f", str(bad))
    assert invalid.returncode == 2
    assert "steps.0.on_failure" in invalid.stderr
    assert "notification.trigger" in invalid.stderr
    # unknown collection, approval request, job: exit 3
    assert cli(stack, "collections", "run", "nope").returncode == 3
    assert cli(stack, "approvals", "approve", "apr-nope").returncode == 3
    assert cli(stack, "jobs", "restart", "nope").returncode == 3
    # a bad filter: exit 2 naming it
    filtered = cli(stack, "approvals", "list", "--status", "maybe")
    assert filtered.returncode == 2
    assert "status: must be one of" in filtered.stderr
