"""The template check (SAM transform offline, then cfn-lint with its informational rules, then checkov)
passes on template.yaml and catches the SAM mistakes cfn-lint alone misses, a stateful resource left to
be deleted with the stack, and a security check failed or skipped without a reason."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS_PYTHON = ROOT / ".venv-tools" / "bin" / "python"
CHECK = ROOT / "infra" / "tools" / "check_template.py"


def check(path: Path) -> subprocess.CompletedProcess[str]:
    assert TOOLS_PYTHON.exists(), "the tools virtualenv is missing: `make test` (or `make venv`) builds it"
    return subprocess.run(
        [str(TOOLS_PYTHON), str(CHECK), str(path)], capture_output=True, text=True, check=False, timeout=300
    )


def broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    text = (ROOT / "template.yaml").read_text()
    assert old in text
    path = tmp_path / "template.yaml"
    path.write_text(text.replace(old, new))
    return path


def test_template_yaml_passes():
    result = check(ROOT / "template.yaml")
    assert result.returncode == 0, result.stderr
    assert "SAM transform, cfn-lint and checkov passed" in result.stdout


@pytest.mark.parametrize(
    ("old", "new", "finding"),
    [
        ("Runtime: python3.11", "Runtime: python3.99", "'python3.99' is not one of"),
        ("Stream: !GetAtt JobsTable.StreamArn", "Stream: !GetAtt MissingTable.StreamArn", "'MissingTable'"),
        ("StartingPosition: TRIM_HORIZON", "StartingPosition: OLDEST", ""),
    ],
    ids=["broken-runtime", "stream-of-missing-table", "bad-starting-position"],
)
def test_a_broken_copy_fails(tmp_path, old, new, finding):
    result = check(broken_copy(tmp_path, old, new))
    assert result.returncode == 1, result.stdout
    assert finding in result.stderr


@pytest.mark.parametrize(
    ("old", "new", "finding"),
    [
        (
            "  EntityStateTable:\n    Type: AWS::DynamoDB::Table\n    DeletionPolicy: Retain",
            "  EntityStateTable:\n    Type: AWS::DynamoDB::Table\n    Metadata: {}",
            ":I3011:'DeletionPolicy' is a required property",
        ),
        (
            "      ReservedConcurrentExecutions: !If [ReservesLinks, !Ref LinksReservedConcurrency, "
            "!Ref AWS::NoValue]\n",
            "",
            "checkov CKV_AWS_115 AWS::Serverless::Function.LinksFunction",
        ),
        (
            "          - id: CKV_AWS_21\n            comment:",
            "          - id: CKV_AWS_21\n            comment_was:",
            "checkov CKV_AWS_21 AWS::S3::Bucket.LogBucket: skipped without a reason",
        ),
    ],
    ids=["state-table-deleted-with-the-stack", "links-function-uncapped", "skip-without-reason"],
)
def test_a_hardening_lost_fails(tmp_path, old, new, finding):
    # Given a copy of the template with one hardening undone; When it is checked; Then the check names it
    result = check(broken_copy(tmp_path, old, new))
    assert result.returncode == 1, result.stdout
    assert finding in result.stderr
