"""The local stack's output: each handler's log lines carry its own Lambda context (the handlers run in
threads of one process, sharing one Powertools Logger), and the demo tells its story on the terminal
while the function logs go to a file it names."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from syncjobs.observability import logger
from syncjobs_local import function_logs
from syncjobs_local.demo import prepare, start, wait_for_mail, wait_for_run
from tests.e2e.helpers import wait_until

pytestmark = pytest.mark.e2e

# A message only one function writes -> that function's logical id.
WRITTEN_BY = {
    "run started": "StartRunFunction",
    "phase queued": "StartRunFunction",
    "shard done": "RunShardFunction",
    "mail sent": "NotifyFunction",
    "run finalized": "AdvanceFunction",
}


def json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def logged_by_notify(path: Path, timeout_s: float = 30) -> None:
    wait_until(
        lambda: any(line["message"] == "mail sent" for line in json_lines(path)), "notify logs 'mail sent'", timeout_s
    )


def test_each_handler_running_beside_others_logs_its_own_function_name_and_request_id(stack, tmp_path):
    # Given a run of many shards: run_shard invocations on two pollers, with advance and notify beside them
    prepared = prepare(stack, users=240, shard_size=20)  # bad rows too: the run ends with errors, and mails
    names = stack.function_names()
    log_file = tmp_path / "functions.log"

    # When it runs with the function logs going to a file
    with function_logs.to_file(log_file):
        run = wait_for_run(start(stack, prepared.job_id), timeout_s=300, stack=stack)
        wait_for_mail(stack)
        logged_by_notify(log_file)  # it logs "mail sent" once SES has taken the mail: after the outbox may

    # Then each line written by a handler names that handler's function and its invocation
    lines = json_lines(log_file)
    seen: dict[str, int] = defaultdict(int)
    functions_of_request: dict[str, set[str]] = defaultdict(set)
    for line in lines:
        if line["message"] in WRITTEN_BY:
            expected = names[WRITTEN_BY[line["message"]]]
            assert line.get("function_name") == expected, line
            assert line["function_arn"].endswith(f":function:{expected}"), line
            seen[line["message"]] += 1
        if "function_request_id" in line:
            functions_of_request[line["function_request_id"]].add(line["function_name"])
    assert seen["shard done"] == run.shards_total >= 12
    assert seen["mail sent"] == 1
    assert seen["run started"] == 1
    # one invocation's lines all name one function; every invocation that logged has its own request id
    assert functions_of_request
    assert all(len(functions) == 1 for functions in functions_of_request.values()), functions_of_request
    shard_requests = {line["function_request_id"] for line in lines if line["message"] == "shard done"}
    assert len(shard_requests) == run.shards_total  # BatchSize 1: an invocation per shard


def test_a_line_written_outside_any_invocation_names_no_function(stack, tmp_path):
    # Given the function logs in a file, after a handler has run (its context was the logger's last)
    prepared = prepare(stack, users=5, bad_rows=False, subscriber=None)
    log_file = tmp_path / "functions.log"
    with function_logs.to_file(log_file):
        wait_for_run(start(stack, prepared.job_id), timeout_s=120, stack=stack)
        # When this thread (no invocation: as a poller) writes a line
        logger.warning("outside any invocation")

    # Then it claims no function
    outside = [line for line in json_lines(log_file) if line["message"] == "outside any invocation"]
    assert len(outside) == 1
    assert not set(function_logs.KEYS) & outside[0].keys(), outside[0]


def test_the_demo_prints_its_story_and_writes_the_function_logs_to_the_file_it_names(tmp_path):
    # Given the demo, run as `make demo` runs it (a small export)
    workdir = tmp_path / "demo"
    demo = subprocess.run(
        [sys.executable, "-m", "syncjobs_local", "demo", "--users", "40", "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "100"},
        check=False,
    )
    terminal = demo.stdout + demo.stderr

    # Then it succeeded, and no line on the terminal is a JSON log line
    assert demo.returncode == 0, terminal
    json_on_terminal = [line for line in terminal.splitlines() if line.lstrip().startswith("{")]
    assert json_on_terminal == []
    # its story is there: the run's summary with the whole run id on one line, the mail, the links
    run_id = re.search(r"^Run (\S+) started$", demo.stdout, re.MULTILINE)
    assert run_id is not None, demo.stdout
    assert re.search(rf"^\s*Run {run_id.group(1)}: finished_with_errors in ", demo.stdout, re.MULTILINE), demo.stdout
    assert "Mail in the outbox" in demo.stdout
    assert "failed: http://127.0.0.1:" in demo.stdout
    # and the function logs are in the file it named, each line a handler's, with its function's name
    named = re.search(r"^Function logs \(Powertools JSON lines\): (\S+)$", demo.stdout, re.MULTILINE)
    assert named is not None, demo.stdout
    lines = json_lines(Path(named.group(1)))
    assert {line["message"] for line in lines} >= {"run started", "shard done", "mail sent"}
    for line in lines:
        if line["message"] in WRITTEN_BY:
            assert line["function_name"] == f"syncjobs-local-{WRITTEN_BY[line['message']].lower()}", line
