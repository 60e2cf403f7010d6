"""The local IAM check refuses what AWS would: with one needed statement taken out of the template,
the call it granted fails with AccessDenied naming the function, the action and the resource."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from syncjobs.store.errors import StoreError
from syncjobs_local.cfn import load_template
from syncjobs_local.demo import prepare
from syncjobs_local.iam import ledger
from syncjobs_local.provision import TEMPLATE


def without_statement(tmp_path: Path, function: str, action: str) -> Path:
    """A copy of template.yaml whose `function` lacks the inline statement granting `action`."""
    template = load_template(TEMPLATE)
    policies = template["Resources"][function]["Properties"]["Policies"]
    removed = 0
    for policy in policies:
        if isinstance(policy, dict) and "Statement" in policy:
            kept = [s for s in policy["Statement"] if action not in s.get("Action", [])]
            removed += len(policy["Statement"]) - len(kept)
            policy["Statement"] = kept
    assert removed == 1, f"{function} has {removed} statements granting {action}"
    copy = tmp_path / "template.yaml"
    copy.write_text(yaml.safe_dump(template, sort_keys=False))
    return copy


@pytest.mark.iam_denials
def test_a_start_run_without_its_plan_statement_is_refused_as_aws_refuses_it(aws, tmp_path):
    # Given a job, and StartRunFunction's policy without the statement that lets it write run plans
    job_id = prepare(aws, users=20).job_id
    broken = without_statement(tmp_path, "StartRunFunction", "s3:PutObject")

    # When a run is started
    with aws.policies_of(broken):
        try:
            answer = aws.invoke("StartRunFunction", {"job_id": job_id, "type": "read", "request_id": "r1"})
            message = str(answer.get("reason"))  # a start_run that fails the run with the error's reason
        except StoreError as err:
            message = str(err)

    # Then the write was refused with S3's AccessDenied, naming the function's role, the action and the object
    plan = f"arn:aws:s3:::{aws.resources.name('LogBucket')}/runs/"
    assert "AccessDenied" in message
    assert "assumed-role/syncjobs-local-StartRunFunctionRole/syncjobs-local-startrunfunction" in message
    assert "is not authorized to perform: s3:PutObject" in message
    assert f'on resource: "{plan}' in message
    assert "/plan/users.json" in message
    (denied,) = ledger.denied()
    assert (denied.function, denied.action) == ("StartRunFunction", "s3:PutObject")
    assert denied.resource.startswith(plan)
    assert denied.resource.endswith("/plan/users.json")


def test_the_template_as_it_is_lets_the_same_run_start(aws):
    # Given the same job with the template's own policies / When a run starts / Then nothing is denied
    job_id = prepare(aws, users=20).job_id
    answer = aws.invoke("StartRunFunction", {"job_id": job_id, "type": "read", "request_id": "r1"})
    assert answer["status"] == "running"
    assert not ledger.denied()
