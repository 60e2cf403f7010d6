"""`syncjobs run JOB --failed-of RUN`: exactly an earlier run's failed entities, again, as a run of its own;
and a validate run's counts read valid and invalid (the CLI, the API, the run page)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from syncjobs.admin import collections, operations
from syncjobs.engine.deletes import FAILED_OF_NO_DELETES
from syncjobs.engine.failed_of import NOT_IN_SOURCE
from syncjobs.models.approval import ApprovalStatus
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import ReadMode, RunStatus, RunType
from syncjobs.store.approvals import ApprovalStore
from syncjobs.store.errors import NotFound
from syncjobs.store.jobs import JobStore
from syncjobs_local.demo import Prepared, prepare, start, wait_for_run
from tests.e2e.helpers import log_rows, rewrite_export, run_recorded, scim_users, wait_until
from tests.e2e.test_cli import cli

pytestmark = pytest.mark.e2e

APPROVER = "approver@example.com"
BROKEN = ("E000003", "E000007", "E000012", "E000018")  # in three of the four shards of five rows
GONE = "E000020"  # leaves the source before the retry: a full read would delete it, the retry must not
CHANGED = "E000001"  # changes in the source before the retry: a full read would update it, the retry must not


def break_rows(prepared: Prepared) -> None:
    """The 4 rows lose their e-mail (the mapping's userName): each fails with the reason."""
    rewrite_export(
        prepared.bucket, prepared.key, lambda rows: [[r[0], "", *r[2:]] if r[0] in BROKEN else r for r in rows]
    )


def fix_rows(prepared: Prepared) -> None:
    """The 4 rows get their e-mail back; besides, one other row changes and one leaves the source."""
    valid = prepared.export.valid

    def fixed(rows: list[list[str]]) -> list[list[str]]:
        out = []
        for r in rows:
            if r[0] == GONE:
                continue
            if r[0] in BROKEN:
                r = [r[0], valid[r[0]]["email"], *r[2:]]
            if r[0] == CHANGED:
                r = [*r[:4], "Chief Retry Officer", *r[5:]]
            out.append(r)
        return out

    rewrite_export(prepared.bucket, prepared.key, fixed)


def cells(line: str) -> list[str]:
    """A line of a table the CLI prints, as its cells (rich draws the borders)."""
    return [cell.strip() for cell in line.replace("┃", "│").split("│") if cell.strip()]


def approval_status(approval_id: str) -> ApprovalStatus | None:
    """None until start_run (asynchronous) has recorded the request."""
    try:
        return ApprovalStore().get(approval_id).status
    except NotFound:
        return None


def run_json(stack, *args: str) -> tuple[int, dict[str, Any]]:
    answer = cli(stack, "run", *args, "--wait", "-o", "json")
    assert answer.returncode in (0, 1), answer.stderr
    return answer.returncode, dict(json.loads(answer.stdout))


def test_failed_of_processes_exactly_the_failed_entities_of_a_run_and_nothing_else(stack):
    # Given a run of 20 users in shards of 5 where 4 rows failed (no e-mail)
    prepared = prepare(stack, users=20, bad_rows=False, shard_size=5, subscriber=None)
    break_rows(prepared)
    first = wait_for_run(start(stack, prepared.job_id), stack=stack)
    assert (first.totals()[Outcome.CREATED], first.totals()[Outcome.FAILED]) == (16, 4)
    assert sorted(r["entity_id"] for r in log_rows(stack, first.log_keys["failed"])) == list(BROKEN)
    # and then a fixed source (the 4 have their e-mail again), where besides one user changed and one left
    fix_rows(prepared)
    before = scim_users(stack)
    job_before = JobStore().get(prepared.job_id)

    # When the failed of that run are run again, from the CLI
    code, run = run_json(stack, prepared.job_id, "--failed-of", first.run_id)

    # Then it is a run of its own that created exactly those 4, counted nothing else and deleted nothing
    assert code == 0, run
    assert (run["status"], run["failed_of"], run["read_mode"]) == ("succeeded", first.run_id, "failed_of")
    assert run["run_id"] != first.run_id
    assert run["counts"]["users"] == {"created": 4, "updated": 0, "deleted": 0, "skipped": 0, "failed": 0}
    assert run["deletes_note"] == FAILED_OF_NO_DELETES
    # And its logs list exactly those 4 (and no other log was written)
    assert sorted(r["entity_id"] for r in log_rows(stack, run["log_keys"]["created"])) == list(BROKEN)
    assert set(run["log_keys"]) == {"created"}
    # And the target holds the 4 now; every other user is as it was (the one gone from the source included)
    after = scim_users(stack)
    assert set(after) == set(before) | set(BROKEN)
    assert {k: after[k] for k in before} == before
    assert GONE in after
    assert after[CHANGED]["title"] != "Chief Retry Officer"
    # And the job's delta state did not move
    job_after = JobStore().get(prepared.job_id)
    assert (job_after.watermarks, job_after.delta_reads_since_full) == (
        job_before.watermarks,
        job_before.delta_reads_since_full,
    )

    # When the retry itself is retried (it failed nothing), or a run still unknown is named
    nothing = cli(stack, "run", prepared.job_id, "--failed-of", run["run_id"])
    unknown = cli(stack, "run", prepared.job_id, "--failed-of", "20260101T000000Z-0000000000")
    # Then each is refused with the reason, and no run starts
    assert nothing.returncode != 0
    assert f"run {run['run_id']} has no failed entities" in nothing.stderr + nothing.stdout
    assert unknown.returncode != 0
    assert "failed_of: run 20260101T000000Z-0000000000 not found" in unknown.stderr + unknown.stdout


def test_a_failed_entity_gone_from_the_source_is_skipped_as_not_in_the_source_any_more(stack):
    # Given a run where 4 rows failed, then a source where 3 of them are fixed and the fourth is gone
    prepared = prepare(stack, users=12, bad_rows=False, shard_size=5, subscriber=None)
    break_rows(prepared)
    first = wait_for_run(start(stack, prepared.job_id), stack=stack)
    assert first.totals()[Outcome.FAILED] == 3  # E000018 is not among 12 users: only 3 broke
    gone = BROKEN[0]
    valid = prepared.export.valid
    rewrite_export(
        prepared.bucket,
        prepared.key,
        lambda rows: [[r[0], valid[r[0]]["email"], *r[2:]] if r[0] in BROKEN else r for r in rows if r[0] != gone],
    )

    # When its failed are retried
    code, run = run_json(stack, prepared.job_id, "--failed-of", first.run_id)

    # Then the 2 still there are created and the one gone is skipped, saying why
    assert code == 0, run
    assert run["counts"]["users"] == {"created": 2, "updated": 0, "deleted": 0, "skipped": 1, "failed": 0}
    skipped = log_rows(stack, run["log_keys"]["skipped"])
    assert [(r["entity_id"], r["reason"]) for r in skipped] == [(gone, NOT_IN_SOURCE)]
    assert sorted(r["entity_id"] for r in log_rows(stack, run["log_keys"]["created"])) == list(BROKEN[1:3])


def test_a_retry_of_the_failed_of_a_job_that_needs_approval_previews_and_runs_only_those(stack):
    # Given a run where 4 rows failed, a fixed source, and then the job needs approval
    prepared = prepare(stack, users=20, bad_rows=False, shard_size=5, subscriber=None)
    break_rows(prepared)
    first = wait_for_run(start(stack, prepared.job_id), stack=stack)
    fix_rows(prepared)
    document = operations.show_job(prepared.job_id)[1].to_document()
    document["approval"] = {"required": True, "approvers": [APPROVER]}
    operations.apply_job(operations.parse_job(document))
    before = scim_users(stack)

    # When its failed are retried through the API
    started = operations.request_run(prepared.job_id, "read", "ada", "api", str(uuid.uuid4()), first.run_id)

    # Then the approvers get a preview of those 4 only, and nothing is written before the approval
    assert started.run_id is None
    assert started.approval_id is not None
    wait_until(lambda: approval_status(started.approval_id) is ApprovalStatus.PENDING, "the preview to end")
    approval = ApprovalStore().get(started.approval_id)
    assert approval.failed_of == first.run_id
    preview = operations.get_run(approval.preview_id)
    assert (preview.run_type, preview.failed_of) == (RunType.SIMULATE, first.run_id)
    assert preview.counts["users"] == {"created": 4, "updated": 0, "deleted": 0, "skipped": 0, "failed": 0}
    assert scim_users(stack) == before
    # And once approved, the run carries out exactly those 4
    collections.decide_approval(started.approval_id, True, APPROVER)
    wait_until(lambda: ApprovalStore().get(started.approval_id).run_id is not None, "the approved run")
    approved = str(ApprovalStore().get(started.approval_id).run_id)
    wait_until(lambda: run_recorded(approved), "start_run records the approved run")  # it is named first
    run = wait_for_run(approved, stack=stack)
    assert (run.status, run.failed_of, run.read_mode) == (RunStatus.SUCCEEDED, first.run_id, ReadMode.FAILED_OF)
    assert run.counts["users"] == {"created": 4, "updated": 0, "deleted": 0, "skipped": 0, "failed": 0}
    assert set(scim_users(stack)) == set(before) | set(BROKEN)


def test_a_validate_run_counts_valid_and_invalid_entities(stack):
    # Given a job whose export has 4 rows the mapping refuses (no e-mail) among 20
    prepared = prepare(stack, users=20, bad_rows=False, shard_size=10, subscriber=None)
    break_rows(prepared)

    # When it is validated from the CLI
    code, run = run_json(stack, prepared.job_id, "--type", "validate")

    # Then the API names its counts valid and invalid (the stored counts keep the outcomes' names)
    assert code == 1  # finished with errors: some entities are invalid
    assert run["named_counts"] == {"users": {"valid": 16, "invalid": 4}}
    assert (run["counts"]["users"]["skipped"], run["counts"]["users"]["failed"]) == (16, 4)
    # And `runs show` heads its table valid and invalid, not skipped and failed
    shown = cli(stack, "runs", "show", run["run_id"])
    assert shown.returncode == 0, shown.stderr
    rows = [cells(line) for line in shown.stdout.splitlines()]
    assert ["entity type", "valid", "invalid"] in rows
    assert ["users", "16", "4"] in rows
