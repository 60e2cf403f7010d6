"""A real job on the local stack, every AWS call checked against its function's policy in template.yaml:
the per-function report (actions used, granted but never used, denied) is written and printed."""

import json
import os
import urllib.request
from pathlib import Path

import pytest

from syncjobs_local import iam_report
from syncjobs_local.demo import mail_links, prepare, start, wait_for_mail, wait_for_run
from syncjobs_local.iam import ledger
from syncjobs_local.sample_data import groups_export
from tests.e2e.helpers import apply_with_groups

pytestmark = pytest.mark.e2e


def api(stack, path: str) -> dict:
    with urllib.request.urlopen(stack.admin_api_url + path, timeout=30) as answer:
        return dict(json.loads(answer.read()))


def test_a_run_with_users_groups_mail_links_and_the_api_makes_no_call_its_policy_denies(stack, tmp_path):
    # Given a job over users and groups with a subscriber
    prepared = prepare(stack, users=120, shard_size=50)
    apply_with_groups(prepared, groups_export(prepared.export.valid).data)

    # When it runs (start_run, run_shard, finalize, notify), a mail link is followed (links) and the
    # admin API lists its runs and schedules it (admin_api)
    run = wait_for_run(start(stack, prepared.job_id), stack=stack)
    links = mail_links(wait_for_mail(stack)[0])
    stack.fetch(links["failed"])
    assert api(stack, f"/jobs/{prepared.job_id}/runs")["runs"]
    with urllib.request.urlopen(f"{stack.admin_api_url}/runs/{run.run_id}/logs/failed", timeout=30) as log:
        assert log.read()  # the API's 302 to a presigned URL, followed
    schedule = urllib.request.Request(
        f"{stack.admin_api_url}/jobs/{prepared.job_id}/schedule",
        data=json.dumps({"expression": "cron(0 6 * * ? *)", "timezone": "Europe/Berlin"}).encode(),
        headers={"Content-Type": "application/json"},
        method="PUT",
    )
    with urllib.request.urlopen(schedule, timeout=30) as answer:
        assert answer.status < 300

    # Then every function's calls were checked, none denied, and the report says what each used
    result = iam_report.report(stack.iam, ledger.calls())
    out = Path(os.environ.get("SYNCJOBS_IAM_REPORT", tmp_path / "iam-report.json"))
    iam_report.write(result, out)
    print(f"\n{iam_report.summary(result)}; report: {out}")
    for function, seen in result["functions"].items():
        print(f"  {function}: {seen['calls']} calls; used {seen['used']}; granted, never used {seen['unused']}")
    assert run.status.is_final
    assert result["denied"] == 0, result
    for function in ("StartRunFunction", "RunShardFunction", "NotifyFunction", "LinksFunction", "AdminApiFunction"):
        assert result["functions"][function]["calls"], f"{function} made no call: the test missed it"
    assert "sqs:SendMessage" in result["functions"]["RunShardFunction"]["used"]  # the groups phase
    # the schedule: a Scheduler schedule in the stack's group, naming the scheduler role (passed to Scheduler)
    assert {"scheduler:CreateSchedule", "iam:PassRole"} <= set(result["functions"]["AdminApiFunction"]["used"])
