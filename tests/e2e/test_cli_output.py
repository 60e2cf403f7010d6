"""The `syncjobs` command as scripts use it, the aws CLI's way: `--output json` (the API's answer, whole, and
nothing else on stdout), `--output text` (tab-separated), `--version`, `jobs get` round-tripping with
`jobs apply`, `runs list` filters and paging, and error messages printed as they are."""

from __future__ import annotations

import json
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from syncjobs.admin import operations
from syncjobs_local.demo import REPO_ROOT, Prepared, prepare
from tests.e2e.test_cli import SYNCJOBS, cli

pytestmark = pytest.mark.e2e

COLLECTION = REPO_ROOT / "examples" / "collections" / "nightly.yaml"


def as_json(stack, *args: str) -> Any:
    """The command's stdout parsed as JSON (it must be JSON and nothing else), after exit 0."""
    answer = cli(stack, *args, "--output", "json")
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout)


def run_waited(stack, job_id: str, run_type: str = "read") -> dict[str, Any]:
    """`run JOB --wait -o json`: the final run, with stdout JSON only (no progress lines)."""
    answer = cli(stack, "run", job_id, "--type", run_type, "--wait", "-o", "json")
    assert answer.returncode in (0, 1), answer.stderr
    return dict(json.loads(answer.stdout))


def test_every_list_and_show_command_prints_the_apis_answer_as_json(stack, tmp_path: Path) -> None:
    # Given a job with a subscriber, a schedule and a run, a collection holding it with a run of its own,
    # and an approval request of the job
    job_id = prepare(stack, users=5, bad_rows=False, subscriber=None).job_id
    assert cli(stack, "subscribe", job_id, "hr-team@example.com", "--trigger", "errors").returncode == 0
    assert cli(stack, "schedule", "set", job_id, "rate(1 day)").returncode == 0
    run = run_waited(stack, job_id)
    assert (run["status"], run["job_id"], run["counts"]["users"]["created"]) == ("succeeded", job_id, 5)
    assert cli(stack, "collections", "apply", "-f", str(COLLECTION)).returncode == 0
    crun = json.loads(cli(stack, "collections", "run", "nightly", "--wait", "-o", "json").stdout)
    assert crun["status"] == "succeeded"
    definition = operations.show_job(job_id)[1].to_document()
    definition["approval"] = {"required": True, "approvers": ["approver@example.com"], "allow_self_approval": True}
    operations.apply_job(operations.parse_job(definition))
    asked = as_json(stack, "run", job_id)
    approval_id = asked["approval_id"]

    # When each list and show command prints json, Then stdout is the API's answer
    jobs = as_json(stack, "jobs", "list")["jobs"]
    assert [(j["job_id"], j["schedule"], j["name"]) for j in jobs] == [(job_id, "rate(1 day)", "HR export to SCIM app")]
    shown = as_json(stack, "jobs", "show", job_id)
    assert shown["definition"]["mapping"]["users"]["userName"] == "{{ email | trim | lower }}"
    assert shown["subscribers"] == [{"email": "hr-team@example.com", "job_id": job_id, "trigger": "errors"}]
    assert as_json(stack, "jobs", "get", job_id)["approval"]["approvers"] == ["approver@example.com"]
    listed = as_json(stack, "runs", "list", job_id)
    assert run["run_id"] in [r["run_id"] for r in listed["runs"]]
    assert listed["next_token"] is None
    assert as_json(stack, "runs", "show", run["run_id"])["read_mode"] == "full"
    assert as_json(stack, "subscribers", job_id)["subscribers"][0]["trigger"] == "errors"
    fires = as_json(stack, "schedule", "next", job_id)
    assert (fires["expression"], len(fires["next_fires"])) == ("rate(1 day)", 5)
    (collection,) = as_json(stack, "collections", "list")["collections"]
    assert (collection["collection_id"], collection["steps"]) == ("nightly", [f"{job_id} (abort)"])
    assert as_json(stack, "collections", "show", "nightly")["recipients"] == ["it-admins@example.com"]
    runs_of_collection = as_json(stack, "collections", "runs", "nightly")["runs"]
    assert [r["collection_run_id"] for r in runs_of_collection] == [crun["collection_run_id"]]
    shown_run = as_json(stack, "collections", "show-run", crun["collection_run_id"])
    assert shown_run["steps"][0]["job_id"] == job_id
    assert approval_id in [a["approval_id"] for a in as_json(stack, "approvals", "list")["approvals"]]
    approval = as_json(stack, "approvals", "show", approval_id)
    assert (approval["subject_kind"], approval["subject_id"]) == ("job", job_id)

    # And text is one tab-separated line per item; a table piped to a narrow terminal is not cut
    text = cli(stack, "jobs", "list", "-o", "text").stdout.splitlines()
    assert [line.split("\t")[:2] for line in text] == [[job_id, "HR export to SCIM app"]]
    assert cli(stack, "runs", "show", run["run_id"], "--output", "text").stdout.split("\t")[:6] == [
        run["run_id"],
        job_id,
        "read",
        "full",
        "api",
        "succeeded",
    ]
    narrow = cli(stack, "runs", "list", job_id, env={"COLUMNS": "40"}).stdout
    assert any(run["run_id"] in line and "succeeded" in line for line in narrow.splitlines()), narrow
    # SYNCJOBS_OUTPUT chooses the format when no --output does
    from_env = cli(stack, "subscribers", job_id, env={"SYNCJOBS_OUTPUT": "json"})
    assert json.loads(from_env.stdout)["subscribers"][0]["email"] == "hr-team@example.com"


def test_version_prints_the_installed_distributions_version() -> None:
    answer = subprocess.run([SYNCJOBS, "--version"], capture_output=True, text=True, check=False)
    assert (answer.returncode, answer.stdout) == (0, f"syncjobs {version('syncjobs')}\n")


def test_jobs_get_prints_a_definition_jobs_apply_takes_back_unchanged(stack, tmp_path: Path) -> None:
    # Given the example job, applied
    job_id = prepare(stack, users=3, bad_rows=False, subscriber=None).job_id

    # When its definition is printed as yaml (and json) and applied again
    as_yaml = cli(stack, "jobs", "get", job_id, "-o", "yaml")
    assert as_yaml.returncode == 0, as_yaml.stderr
    yaml_file = tmp_path / "job.yaml"
    yaml_file.write_text(as_yaml.stdout)
    json_file = tmp_path / "job.json"
    json_file.write_text(cli(stack, "jobs", "get", job_id, "-o", "json").stdout)

    # Then nothing changes: the same version
    for path in (yaml_file, json_file):
        again = cli(stack, "jobs", "apply", "-f", str(path))
        assert (again.returncode, again.stdout.strip()) == (0, f"job {job_id} unchanged (version 1)"), again.stderr
    assert operations.show_job(job_id)[0].version == 1

    # And an edited definition applies as a new version, which `jobs show` then shows, mapping and all
    edited = yaml.safe_load(yaml_file.read_text())
    edited["name"] = "HR export, renamed"
    edited["mapping"]["users"]["title"] = "{{ title | upper }}"
    yaml_file.write_text(yaml.safe_dump(edited))
    applied = cli(stack, "jobs", "apply", "-f", str(yaml_file), "-o", "json")
    assert json.loads(applied.stdout) == {"job_id": job_id, "version": 2, "changed": True}
    shown = cli(stack, "jobs", "show", job_id).stdout
    assert f"{job_id} (version 2)" in shown
    assert "{{ title | upper }}" in shown


def break_export(prepared: Prepared) -> bytes:
    """Rename a mapped column: the next run fails at once (preflight). Returns the export to put back."""
    s3 = boto3.client("s3")
    original = bytes(s3.get_object(Bucket=prepared.bucket, Key=prepared.key)["Body"].read())
    header, rest = original.split(b"\n", 1)
    broken = header.replace(b"first_name", b"given_name") + b"\n" + rest
    s3.put_object(Bucket=prepared.bucket, Key=prepared.key, Body=broken)
    return original


def test_runs_list_filters_by_status_and_time_and_pages_with_a_token(stack) -> None:
    # Given four runs of a job, newest last: succeeded, succeeded, failed, succeeded
    prepared = prepare(stack, users=3, bad_rows=False, subscriber=None)
    job_id = prepared.job_id
    first = run_waited(stack, job_id)
    second = run_waited(stack, job_id, "resync")
    original = break_export(prepared)
    failed = run_waited(stack, job_id)
    boto3.client("s3").put_object(Bucket=prepared.bucket, Key=prepared.key, Body=original)
    last = run_waited(stack, job_id, "simulate")
    assert [r["status"] for r in (first, second, failed, last)] == ["succeeded", "succeeded", "failed", "succeeded"]
    newest_first = [r["run_id"] for r in (last, failed, second, first)]

    # When the runs are listed two at a time, following the token
    pages, token = [], None
    while True:
        args = ["runs", "list", "--job", job_id, "--limit", "2"] + (["--next-token", token] if token else [])
        page = as_json(stack, *args)
        pages.append([r["run_id"] for r in page["runs"]])
        token = page["next_token"]
        if token is None:
            break
        assert len(pages) < 5, pages

    # Then every run comes once, newest first, two a page
    assert [run_id for page in pages for run_id in page] == newest_first
    assert pages[:2] == [newest_first[:2], newest_first[2:]]

    # And the filters: by status, by creation time (inclusive), by a duration back from now
    by_status = as_json(stack, "runs", "list", "--job", job_id, "--status", "failed")
    assert ([r["run_id"] for r in by_status["runs"]], by_status["next_token"]) == ([failed["run_id"]], None)
    since = as_json(stack, "runs", "list", "--job", job_id, "--since", failed["created_at"])["runs"]
    assert [r["run_id"] for r in since] == newest_first[:2]
    assert [r["run_id"] for r in as_json(stack, "runs", "list", job_id, "--since", "1h")["runs"]] == newest_first
    succeeded_since = as_json(stack, "runs", "list", job_id, "--since", second["created_at"], "--status", "succeeded")
    assert [r["run_id"] for r in succeeded_since["runs"]] == [last["run_id"], second["run_id"]]

    # text: a line per run, the token on stderr; table: the token said under the table
    text = cli(stack, "runs", "list", "--job", job_id, "--limit", "3", "-o", "text")
    assert [line.split("\t")[0] for line in text.stdout.splitlines()] == newest_first[:3]
    assert "--next-token " in text.stderr
    table = cli(stack, "runs", "list", "--job", job_id, "--limit", "1")
    assert f"more runs: syncjobs runs list --job {job_id} --next-token " in table.stdout

    # bad filters: exit 2, naming them
    for args, words in (
        (("--status", "maybe"), "status: must be one of"),
        (("--next-token", "bm90LWEtdG9rZW4"), "next_token: not a token this listing handed out"),
        (("--since", "last tuesday"), "is neither an ISO time"),
    ):
        refused = cli(stack, "runs", "list", "--job", job_id, *args)
        assert refused.returncode == 2, (args, refused.stdout, refused.stderr)
        assert words in refused.stderr, refused.stderr
        assert refused.stdout == ""


def test_error_messages_are_printed_literally_on_stderr(stack, tmp_path: Path) -> None:
    # Given a job file whose job_id breaks the pattern (brackets and braces that rich would read as markup)
    prepared = prepare(stack, users=1, bad_rows=False, subscriber=None)
    bad = tmp_path / "bad-id.yaml"
    bad.write_text(yaml.safe_dump({**prepared.document, "job_id": "Bad_Id"}))

    # When it is applied, Then the pattern is printed whole, the file named once, on stderr, exit 2
    refused = cli(stack, "jobs", "apply", "-f", str(bad))
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert refused.stderr.startswith(f"error: {bad} is invalid:")
    assert "'^[a-z0-9][a-z0-9-]{0,62}$'" in refused.stderr
    assert refused.stderr.count(str(bad)) == 1

    # And an error the API sends keeps its brackets too (exit 2: the filter it names)
    unknown = cli(stack, "approvals", "list", "--status", "[bold]maybe[/bold]", "-o", "json")
    assert unknown.returncode == 2
    assert unknown.stdout == ""
    assert "(got '[bold]maybe[/bold]')" in unknown.stderr, unknown.stderr
