"""The `syncjobs` command, run as admins run it (a separate process), against the local stack's admin API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
import yaml

from syncjobs.admin import operations
from syncjobs.store.runs import RunStore
from syncjobs_local.demo import EXAMPLE_JOB, SECRET_NAME, prepare
from syncjobs_local.pollers import Scheduler

pytestmark = pytest.mark.e2e

SYNCJOBS = str(Path(sys.executable).parent / "syncjobs")


def cli(stack, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    base = [SYNCJOBS, "--api", stack.admin_api_url] if stack is not None else [SYNCJOBS]
    return subprocess.run(
        [*base, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        check=False,
    )


def job_file(stack, tmp_path: Path, prepared, **overrides) -> Path:
    document = yaml.safe_load(EXAMPLE_JOB.read_text())
    document["job_id"] = "cli-job"
    document["source"].update(bucket=prepared.bucket, key=prepared.key)
    document["target"].update(base_url=stack.scim.url, token_secret=SECRET_NAME)
    document.update(overrides)
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_an_admin_drives_a_job_from_the_terminal(stack, tmp_path):
    # Given an export in the bucket and a job file (the example, pointed at the local stack)
    prepared = prepare(stack, users=600, bad_rows=False, subscriber=None)
    path = job_file(stack, tmp_path, prepared, shard_size=50)

    # jobs apply / list / show
    applied = cli(stack, "jobs", "apply", "-f", str(path))
    assert (applied.returncode, applied.stdout.strip()) == (0, "job cli-job applied (version 1)")
    listed = cli(stack, "jobs", "list")
    assert listed.returncode == 0
    assert "cli-job" in listed.stdout
    assert "HR export to SCIM app" in listed.stdout

    # subscribe / subscribers
    subscribed = cli(stack, "subscribe", "cli-job", "hr-team@example.com", "--trigger", "errors")
    assert subscribed.stdout.strip() == "hr-team@example.com subscribed to cli-job (errors)"
    assert "│ hr-team@example.com │ errors  │" in cli(stack, "subscribers", "cli-job").stdout

    # schedule set rate(1 minute), next fires, and the local scheduler firing it
    scheduled = cli(stack, "schedule", "set", "cli-job", "rate(1 minute)")
    assert scheduled.returncode == 0
    assert scheduled.stdout.startswith("job cli-job scheduled: rate(1 minute) (read); next ")
    upcoming = cli(stack, "schedule", "next", "cli-job").stdout.splitlines()
    fires = [datetime.fromisoformat(line.strip()) for line in upcoming[1:]]
    assert len(fires) == 5
    assert all(b - a == timedelta(minutes=1) for a, b in pairwise(fires))
    now = [datetime.now(UTC)]
    scheduler = Scheduler(stack.invoker, clock=lambda: now[0])
    scheduler.tick()
    now[0] += timedelta(minutes=1, seconds=1)
    scheduler.tick()
    scheduler.drain()
    (fired,) = RunStore().list_for_job("cli-job")
    assert fired.trigger.value == "schedule"
    assert cli(stack, "schedule", "clear", "cli-job").stdout.strip() == "job cli-job: schedule removed"
    deadline = time.monotonic() + 120
    while not RunStore().get(fired.run_id).run.status.is_final:
        assert time.monotonic() < deadline
        time.sleep(0.2)

    # run --wait: progress, then the run's details; exit 0 as it succeeded (all skipped: done already)
    waited = cli(stack, "run", "cli-job", "--type", "resync", "--wait")
    assert waited.returncode == 0, waited.stderr
    assert "started" in waited.stdout
    progress = [line for line in waited.stdout.splitlines() if " shards, " in line]
    assert progress[-1].startswith("succeeded: 12/12 shards, 600 entities"), progress
    assert "resync / full" in waited.stdout
    assert "succeeded" in waited.stdout
    run_id = waited.stdout.split()[1]

    # runs list / runs show
    assert run_id in cli(stack, "runs", "list", "cli-job").stdout
    shown = cli(stack, "runs", "show", run_id)
    assert "users" in shown.stdout
    assert "600" in shown.stdout  # 600 updated by the resync

    # logs get: the updated log to a file, the same bytes S3 holds
    target = tmp_path / "updated.csv"
    got = cli(stack, "logs", "get", run_id, "--outcome", "updated", "-o", str(target))
    assert got.returncode == 0
    lines = target.read_text().splitlines()
    assert lines[0] == "entity_type,entity_id,target_id,row,reason,content"
    assert len(lines) == 601

    # stop: a long run stopped from the terminal ends stopped
    started = cli(stack, "run", "cli-job", "--type", "resync")
    long_run = started.stdout.split()[1]
    assert f"follow it: syncjobs runs show {long_run}" in started.stdout  # without --wait: how to follow it
    stopped = cli(stack, "stop", long_run)
    if stopped.returncode == 0:
        assert stopped.stdout.strip() in {f"run {long_run} is stopping", f"run {long_run} is stopped"}
        deadline = time.monotonic() + 120
        while operations.get_run(long_run).status.value != "stopped":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert "stopped" in cli(stack, "runs", "show", long_run).stdout
    else:  # it finished before the stop arrived: a conflict, said so, exit 4
        assert stopped.returncode == 4
        assert "already over" in stopped.stderr


def test_errors_have_clear_messages_and_exit_codes(stack, tmp_path):
    prepared = prepare(stack, users=3, bad_rows=False, subscriber=None)

    # a malformed job file: the field is named, exit 2, nothing sent
    bad = job_file(stack, tmp_path, prepared, shard_size=0)
    refused = cli(stack, "jobs", "apply", "-f", str(bad))
    assert refused.returncode == 2
    assert "shard_size: Input should be greater than or equal to 1" in refused.stderr
    not_yaml = tmp_path / "broken.yaml"
    not_yaml.write_text("job_id: [unclosed\n")
    assert cli(stack, "jobs", "apply", "-f", str(not_yaml)).returncode == 2
    assert cli(stack, "jobs", "apply", "-f", str(tmp_path / "missing.yaml")).returncode == 2

    # invalid schedule expressions: named, exit 2
    for expression, words in (
        ("rate(5 minute)", "expression: "),
        ("cron(0 8 * * MON *)", "expression: "),
        ("tomorrow", "expression: "),
    ):
        answer = cli(stack, "schedule", "set", prepared.job_id, expression)
        assert answer.returncode == 2, expression
        assert words in answer.stderr, answer.stderr

    # unknown jobs and runs: exit 3 with the name
    unknown = (
        ("jobs", "show", "no-such-job"),
        ("run", "no-such-job"),
        ("runs", "show", "no-such-run"),
        ("logs", "get", "no-such-run"),
    )
    for args in unknown:
        answer = cli(stack, *args)
        assert answer.returncode == 3, args
        assert "no-such" in answer.stderr

    # no admin API at all: exit 5 and what to do
    unreachable = subprocess.run(
        [SYNCJOBS, "--api", "http://127.0.0.1:9", "jobs", "list"], capture_output=True, text=True, check=False
    )
    assert unreachable.returncode == 5
    assert "cannot reach the admin API" in unreachable.stderr


def test_local_up_runs_the_stack_and_the_other_commands_find_it(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "SYNCJOBS_HOME": str(home)}
    process = subprocess.Popen(
        [SYNCJOBS, "local", "up", "--workdir", str(tmp_path / "work")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        state = home / "local.json"
        deadline = time.monotonic() + 120
        while not state.exists():
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "local up did not come up"
            time.sleep(0.2)
        api_url = json.loads(state.read_text())["api_url"]
        listed = cli(None, "jobs", "list", env={"SYNCJOBS_HOME": str(home)})
        assert listed.returncode == 0, listed.stderr
        assert "job" in listed.stdout
        assert api_url.startswith("http://127.0.0.1:")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0
    assert not state.exists()
