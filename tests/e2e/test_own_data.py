"""README's "Your own data in five minutes", run as a person runs it: the real `syncjobs` command in
separate processes, each in the directory `syncjobs local up` runs in (which finds the stack there)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from syncjobs_local.demo import EXAMPLE_JOB
from tests.e2e.helpers import holds_within

pytestmark = pytest.mark.e2e

SYNCJOBS = str(Path(sys.executable).parent / "syncjobs")  # .venv/bin/syncjobs: what `. .venv/bin/activate` puts first
README = Path(__file__).resolve().parents[2] / "README.md"
USERS = """employee_id,email,first_name,last_name,title,department,status,modified_at
E1001,ada.lovelace@example.com,Ada,Lovelace,Engineer,R&D,active,2026-11-30T08:00:00Z
E1002,alan.turing@example.com,Alan,Turing,Researcher,R&D,active,2026-11-30T08:00:00Z
E1003,grace.hopper@example.com,Grace,Hopper,Admiral,Navy,inactive,2026-11-30T08:00:00Z
"""


def environment() -> dict[str, str]:
    """This test's environment without anything that would point the CLI elsewhere."""
    env = {k: v for k, v in os.environ.items() if k not in {"SYNCJOBS_HOME", "SYNCJOBS_API", "AWS_PROFILE"}}
    return {**env, "COLUMNS": "200"}


def syncjobs(here: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SYNCJOBS, *args], cwd=here, input=stdin, capture_output=True, text=True, timeout=300, env=environment()
    )


@pytest.fixture
def local_up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path, Path]]:
    """`syncjobs local up` in a directory of its own, its output in a file; Ctrl-C at the end."""
    here = tmp_path / "project"
    here.mkdir()
    output = tmp_path / "local-up.out"
    with output.open("w") as sink:
        process = subprocess.Popen(
            [SYNCJOBS, "local", "up"], cwd=here, stdout=sink, stderr=subprocess.STDOUT, text=True, env=environment()
        )
    try:
        yield process, here, output
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_up(process: subprocess.Popen[str], here: Path, output: Path) -> dict[str, str]:
    state = here / ".syncjobs" / "local.json"

    def up() -> bool:
        assert process.poll() is None, output.read_text()
        return state.exists() and "--outcome created" in output.read_text()  # its last line

    assert holds_within(up, 180, every_s=0.2), f"local up did not come up:\n{output.read_text()}"
    return dict(json.loads(state.read_text()))


def test_the_readmes_own_data_path_provisions_a_csv_and_shows_its_log(local_up):
    process, here, output = local_up
    # Given `syncjobs local up` running in a project directory
    state = wait_until_up(process, here, output)
    announced = output.read_text()
    # it says what to run next, with the values a job file needs
    bucket = re.search(r"source\.bucket: (\S+)", announced)
    base_url = re.search(r"target\.base_url: (\S+)", announced)
    secret_command = re.search(r"syncjobs (local secret .*)$", announced, re.MULTILINE)
    assert bucket is not None, announced
    assert base_url is not None, announced
    assert secret_command is not None, announced
    assert "syncjobs local upload users.csv" in announced
    # the SCIM target's token is in a file only its owner reads, and on no command line
    token_file = Path(state["scim_token_file"])
    token = token_file.read_text()
    assert token_file.stat().st_mode & 0o077 == 0
    command_lines = [p.read_bytes() for p in Path("/proc").glob("[0-9]*/cmdline") if p.exists()]
    assert not any(token.encode() in line for line in command_lines)

    # When a person follows the README: their export uploaded, the target's token stored as a secret
    (here / "users.csv").write_text(USERS)
    uploaded = syncjobs(here, "local", "upload", "users.csv")
    assert uploaded.returncode == 0, uploaded.stderr
    assert f"s3://{bucket.group(1)}/exports/users.csv" in uploaded.stdout
    stored = syncjobs(here, *secret_command.group(1).split())
    assert stored.returncode == 0, stored.stderr
    assert "target.token_secret: syncjobs/local/scim-token" in stored.stdout
    # (a token may come on stdin too; a bad name or no token is refused, saying which)
    piped = syncjobs(here, "local", "secret", "syncjobs/local/piped", "--token-stdin", stdin=token + "\n")
    assert piped.returncode == 0, piped.stderr
    outside = syncjobs(here, "local", "secret", "elsewhere/token", "--token-stdin", stdin=token)
    assert outside.returncode == 2
    assert "'elsewhere/token'" in outside.stderr
    assert "SecretsPrefix 'syncjobs/'" in outside.stderr
    no_token = syncjobs(here, "local", "secret", "syncjobs/local/none")
    assert no_token.returncode == 2
    assert "--token-file" in no_token.stderr
    assert "--token-stdin" in no_token.stderr

    # a copy of the example job with the four values `local up` printed, applied and run
    job = yaml.safe_load(EXAMPLE_JOB.read_text())
    job["job_id"] = "my-users"
    job["source"].update(bucket=bucket.group(1), key="exports/users.csv")
    job["target"].update(base_url=base_url.group(1), token_secret="syncjobs/local/scim-token")
    below = here / "jobs"  # (from a directory below, the commands find the stack by walking up)
    below.mkdir()
    (below / "my-job.yaml").write_text(yaml.safe_dump(job, sort_keys=False))
    applied = syncjobs(below, "jobs", "apply", "-f", "my-job.yaml")
    assert applied.returncode == 0, applied.stderr
    ran = syncjobs(here, "run", "my-users", "--wait")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    run_id = re.search(r"run (\S+) started", ran.stdout)
    assert run_id is not None, ran.stdout
    log = syncjobs(here, "logs", "get", run_id.group(1), "--outcome", "created")

    # Then the users are in the target, and the created log lists them
    assert log.returncode == 0, log.stderr
    rows = list(csv.DictReader(io.StringIO(log.stdout)))
    assert sorted(r["entity_id"] for r in rows) == ["E1001", "E1002", "E1003"]
    answer = httpx.get(
        f"{base_url.group(1)}/Users", headers={"Authorization": f"Bearer {token}"}, params={"count": 100}, timeout=30
    )
    users = {u["externalId"]: u for u in answer.raise_for_status().json().get("Resources", [])}
    assert set(users) == {"E1001", "E1002", "E1003"}
    assert users["E1003"]["userName"] == "grace.hopper@example.com"
    assert users["E1003"]["active"] is False

    # and the README shows exactly these commands
    readme = README.read_text()
    section = readme[readme.index("### Your own data in five minutes") :]
    section = section[: section.index("\n## ")]
    for command in (
        "syncjobs local up",
        "syncjobs local upload users.csv",
        "syncjobs local secret syncjobs/local/scim-token --token-file .syncjobs/scim-token",
        "syncjobs jobs apply -f my-job.yaml",
        "syncjobs run my-users --wait",
        "syncjobs logs get RUN --outcome created",
    ):
        assert command in section, command

    # When Ctrl-C stops the stack, it ends cleanly, its state and token files gone
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0, output.read_text()
    assert not (here / ".syncjobs" / "local.json").exists()
    assert not token_file.exists()
    # its terminal said what it had to and nothing else: the functions' lines and warnings are in its log
    terminal = output.read_text()
    assert [line for line in terminal.splitlines() if line.lstrip().startswith("{")] == []
    assert "Warning" not in terminal
    assert '"function_name":"syncjobs-local-runshardfunction"' in Path(state["function_log"]).read_text()
    with pytest.raises(httpx.TransportError):
        httpx.get(state["scim_url"], timeout=2)
    # and the commands say there is no local stack here
    after = syncjobs(here, "local", "upload", "users.csv")
    assert after.returncode == 5
    assert "no local stack runs here" in after.stderr
