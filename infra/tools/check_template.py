"""Check a SAM template offline: run the SAM transform, then cfn-lint on what it produced, then checkov.

cfn-lint alone no longer runs the SAM transform and misses SAM mistakes (a bad runtime, a stream
event pointing at a table that does not exist, ...). aws-sam-translator catches those; cfn-lint then
checks the CloudFormation it expands to. Runs in the tools virtualenv (.venv-tools), kept apart from
the runtime set because aws-sam-translator pins pydantic.

cfn-lint runs with its informational rules too: a stateful resource without an explicit DeletionPolicy
and UpdateReplacePolicy (I3011) fails the check, since a replacement or `sam delete` would lose its data
silently. checkov (the template as written: it reads SAM) must report no failed check; a check that does
not apply is skipped in the template, in the resource's Metadata, with a comment saying why (a skip
without one fails too).

Usage: check_template.py TEMPLATE  -> exit 0 when clean, 1 with the problems on stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# The CloudFormation YAML loader is the local stack's (one loader for both); this script runs in the
# tools virtualenv, where the project is not installed, so it is imported from its folder.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "local"))
from syncjobs_local.cfn import load_template


class _FixedManagedPolicies:
    """The managed-policy map the translator asks IAM for; offline we answer from a fixed table."""

    def load(self) -> dict[str, str]:
        return {
            "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
            "AWSXRayDaemonWriteAccess": "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess",
            "AWSLambdaDynamoDBExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole",
            "AWSLambdaSQSQueueExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
        }


def _with_placeholder_code_uris(template: dict[str, Any]) -> dict[str, Any]:
    """Local folders are what `sam build` packages; the translator wants s3:// URIs."""
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and "CodeUri" in props:
            props["CodeUri"] = "s3://placeholder-bucket/function.zip"
        if resource.get("Type") == "AWS::Serverless::LayerVersion" and "ContentUri" in props:
            props["ContentUri"] = "s3://placeholder-bucket/layer.zip"
    return template


def transform(template_path: Path) -> dict[str, Any]:
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.transform import transform as sam_transform

    template = load_template(template_path)
    try:
        return sam_transform(  # type: ignore[no-any-return]
            _with_placeholder_code_uris(template), {}, _FixedManagedPolicies(), Parser()
        )
    except InvalidDocumentException as err:
        problems = "\n".join(f"  SAM: {cause.message}" for cause in err.causes)
        raise SystemExit(f"{template_path}: SAM transform failed:\n{problems}") from None


def lint(cfn: dict[str, Any]) -> tuple[int, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
        json.dump(cfn, out)
    try:
        proc = subprocess.run(  # noqa: S603 - fixed argv
            [
                str(Path(sys.executable).parent / "cfn-lint"),
                "--format",
                "parseable",
                "--include-checks",
                "I",
                "--",
                out.name,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        os.unlink(out.name)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


# informational cfn-lint rules that fail the check (the others are printed)
FAILING_INFORMATIONAL = ("I3011",)


def informational_failures(report: str) -> list[str]:
    return [line for line in report.splitlines() if any(f":{rule}:" in line for rule in FAILING_INFORMATIONAL)]


NO_REASON = "No comment provided"  # what checkov records for a skip without a comment


def checkov(template_path: Path) -> list[str]:
    """checkov's failed checks, and its skips that give no reason, as lines to print."""
    proc = subprocess.run(  # noqa: S603 - fixed argv
        [
            str(Path(sys.executable).parent / "checkov"),
            "--file",
            str(template_path),
            "--framework",
            "cloudformation",
            "--skip-download",  # offline: no policy downloads, no telemetry
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        found = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return [f"checkov did not run (exit {proc.returncode}): {(proc.stdout + proc.stderr).strip()[-2000:]}"]
    reports = found if isinstance(found, list) else [found]
    problems = []
    for report in reports:
        results = report.get("results", {})
        for failed in results.get("failed_checks", []):
            problems.append(f"checkov {failed['check_id']} {failed['resource']}: {failed['check_name']}")
        for skipped in results.get("skipped_checks", []):
            reason = (skipped.get("check_result", {}).get("suppress_comment") or "").strip()
            if reason in ("", NO_REASON):
                problems.append(f"checkov {skipped['check_id']} {skipped['resource']}: skipped without a reason")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(argv[1])
    cfn = transform(path)
    code, report = lint(cfn)
    # cfn-lint: 0 clean, 2 errors, 4 warnings, 8 informational (bit flags)
    if code & 2 or code == 1:
        print(f"{path}: cfn-lint errors on the transformed template:\n{report}", file=sys.stderr)
        return 1
    failing = informational_failures(report)
    if failing:
        print(f"{path}: cfn-lint findings on stateful resources:\n" + "\n".join(failing), file=sys.stderr)
        return 1
    if report:
        print(report)
    problems = checkov(path)
    if problems:
        print(f"{path}: checkov:\n" + "\n".join(problems), file=sys.stderr)
        return 1
    print(f"{path}: SAM transform, cfn-lint and checkov passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
