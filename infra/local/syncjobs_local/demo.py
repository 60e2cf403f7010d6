"""`make demo`: the local stack, a 1,000-user HR export, a job with a subscriber, one real run end to end."""

from __future__ import annotations

import argparse
import email
import email.policy
import re
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from syncjobs.admin import operations
from syncjobs.engine.destinations import DESTINATIONS_TAG
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import Run
from syncjobs.store.secrets import forget
from syncjobs_local import function_logs, iam_report
from syncjobs_local.iam import ledger
from syncjobs_local.provision import REPO_ROOT
from syncjobs_local.sample_data import SampleExport, generate
from syncjobs_local.stack import LocalStack

EXAMPLE_JOB = REPO_ROOT / "examples" / "jobs" / "hr-to-scim.yaml"
SUBSCRIBER = "it-admins@example.com"
SECRET_NAME = "syncjobs/demo/scim-token"  # noqa: S105 - the secret's name, not its value
FUNCTION_LOG = "functions.log"  # in the workdir: the handlers' log lines, not on the terminal


@dataclass(frozen=True)
class Prepared:
    job_id: str
    export: SampleExport
    bucket: str
    key: str
    document: dict[str, Any]  # the job as applied


def store_token(token: str, *destinations: str, name: str = SECRET_NAME) -> None:
    """Store the target's bearer token as a connector secret, declaring where it may be sent (its
    syncjobs:destinations tag: URL prefixes)."""
    sm: Any = boto3.client("secretsmanager")
    tags = [{"Key": DESTINATIONS_TAG, "Value": " ".join(destinations)}]
    try:
        sm.create_secret(Name=name, SecretString=token, Tags=tags)
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId=name, SecretString=token)
        sm.tag_resource(SecretId=name, Tags=tags)


def allow_destination(url: str, name: str = SECRET_NAME) -> None:
    """Add a URL prefix to the secret's destinations (a test pointing a job at a peer proxy)."""
    sm: Any = boto3.client("secretsmanager")
    tags = sm.describe_secret(SecretId=name).get("Tags", [])
    current = " ".join(t["Value"] for t in tags if t["Key"] == DESTINATIONS_TAG).split()
    value = " ".join(dict.fromkeys([*current, url]))
    sm.tag_resource(SecretId=name, Tags=[{"Key": DESTINATIONS_TAG, "Value": value}])
    forget()  # the cached destinations of this process


def prepare(
    stack: LocalStack,
    users: int,
    key: str = "exports/users.csv",
    job_path: Path = EXAMPLE_JOB,
    subscriber: str | None = SUBSCRIBER,
    bad_rows: bool = True,
    **overrides: Any,
) -> Prepared:
    """Upload a sample export, store the target's token as a secret, apply the job, subscribe.

    `overrides` replace top-level fields of the example job (shard_size=50, deletes={...}).
    """
    assert stack.scim is not None
    assert stack.resources is not None
    export = generate(users, bad=bad_rows)
    bucket = stack.resources.resolver.parameters["SourceBucketName"]
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=export.data)
    store_token(stack.scim.token, stack.scim.origin)
    document = yaml.safe_load(job_path.read_text(encoding="utf-8"))
    document["source"].update(bucket=bucket, key=key)
    document["target"].update(base_url=stack.scim.url, token_secret=SECRET_NAME)
    document["notification"]["skip_intermediate_notifications"] = True  # one mail: the final one
    document.update(overrides)
    target_url = str(document["target"].get("base_url", ""))
    if not target_url.startswith(stack.scim.origin):  # a job the caller points at a peer of its own
        allow_destination(target_url)
    definition = operations.parse_job(document)
    operations.apply_job(definition)
    if subscriber:
        operations.subscribe(definition.job_id, subscriber)
    return Prepared(definition.job_id, export, bucket, key, document)


def start(stack: LocalStack, job_id: str, who: str = "demo", run_type: str = "read") -> str:
    """Start a run through the start_run handler, as the CLI does."""
    answer = stack.invoke(
        "StartRunFunction",
        {"job_id": job_id, "type": run_type, "trigger": "cli", "triggered_by": who, "request_id": str(uuid.uuid4())},
    )
    return str(answer["run_id"])


def wait_for_run(
    run_id: str, timeout_s: float = 600, progress: Progress | None = None, stack: LocalStack | None = None
) -> Run:
    """Poll the run until it is final. With `stack`, give up as soon as a handler has failed."""
    deadline = time.monotonic() + timeout_s
    task = progress.add_task("shards", total=None) if progress else None
    while True:
        if stack is not None and (errors := stack.poller_errors()):
            raise RuntimeError(f"run {run_id}: a handler failed: {errors[0]}")
        run = operations.get_run(run_id)
        if progress is not None and task is not None:
            done = sum(run.totals().values())
            progress.update(
                task, total=run.shards_total, completed=run.shards_done, description=f"shards ({done} entities)"
            )
        if run.status.is_final:
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {run.status.value} after {timeout_s:.0f}s")
        time.sleep(0.2)


def wait_for_mail(stack: LocalStack, count: int = 1, timeout_s: float = 60) -> list[Path]:
    assert stack.outbox is not None
    deadline = time.monotonic() + timeout_s
    while len(stack.outbox.written) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{len(stack.outbox.written)} mail(s) in the outbox after {timeout_s:.0f}s, expected {count}"
            )
        time.sleep(0.2)
    return list(stack.outbox.written)


def mail_links(path: Path) -> dict[str, str]:
    """outcome -> download URL, from the plain-text part of a mail in the outbox."""
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    found = re.finditer(r"^ +(\w+): Download [^\n]* \(\d+\)\n +(\S+)$", text, re.MULTILINE)
    return {m.group(1): m.group(2) for m in found}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="the outbox, function log and IAM report (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 120)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="syncjobs-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)

    ledger.clear()
    with function_logs.to_file(workdir / FUNCTION_LOG) as log_file, LocalStack(workdir) as stack:
        assert stack.scim is not None
        console.print(f"[bold]Local stack[/bold]: AWS (moto) {stack.moto_url}  SCIM target {stack.scim.url}")
        console.print(f"Function logs (Powertools JSON lines): {log_file}", soft_wrap=True)
        prepared = prepare(stack, args.users)
        bad = prepared.export.bad_rows
        console.print(
            f"Uploaded s3://{prepared.bucket}/{prepared.key}: {args.users} users "
            f"+ {len(bad)} bad rows ({', '.join(bad.values())})"
        )
        console.print(f"Job [bold]{prepared.job_id}[/bold] applied from {EXAMPLE_JOB.relative_to(REPO_ROOT)}")
        console.print(f"Subscriber: {SUBSCRIBER}")

        started = time.monotonic()
        run_id = start(stack, prepared.job_id)
        console.print(f"Run [bold]{run_id}[/bold] started")
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            run = wait_for_run(run_id, progress=progress, stack=stack)
        elapsed = time.monotonic() - started

        title = f"Run {run.run_id}: {run.status.value} in {elapsed:.1f}s"
        table = Table(title=title, min_width=len(title))  # as wide as its title: the run id on one line
        table.add_column("outcome")
        table.add_column("entities", justify="right")
        for outcome, count in run.totals().items():
            table.add_row(outcome.value, str(count))
        console.print(table)
        for failure in run.failures:
            console.print(f"  failed {failure.entity_id}: {failure.reason}")

        mails = wait_for_mail(stack)
        console.print(f"\nMail in the outbox (open it in a mail client): [bold]{mails[0]}[/bold]")
        links = mail_links(mails[0])
        for name, url in links.items():
            console.print(f"  {name}: {url}", soft_wrap=True)
        shown = Outcome.FAILED.value if Outcome.FAILED.value in links else next(iter(links))
        data, headers = stack.fetch(links[shown])
        console.print(f"\nFetched the {shown} log over HTTP ({headers.get('Content-Disposition')}):")
        for line in data.decode().splitlines()[:4]:
            console.print(f"  {line[:140]}", soft_wrap=True)
        checked = iam_report.report(stack.iam, ledger.calls())
        written = iam_report.write(checked, workdir / "iam-report.json")
        console.print(f"\n{iam_report.summary(checked)} (per function: {written})")
        if checked["denied"]:
            for function, seen in checked["functions"].items():
                for denial in seen["denied"]:
                    console.print(f"[red]  denied {function}: {denial}[/red]", soft_wrap=True)
            return 1
        if errors := stack.poller_errors():
            console.print(f"[red]poller errors: {errors}[/red]")
            return 1
        totals = run.totals()
        if totals[Outcome.CREATED] != args.users or totals[Outcome.FAILED] != len(bad):
            console.print(f"[red]expected {args.users} created and {len(bad)} failed, got {dict(totals)}[/red]")
            return 1
        console.print(
            f"\n[bold green]Demo finished[/bold green]; outbox: {stack.outbox.folder if stack.outbox else ''}"
        )
        console.print(
            "Your own data next: `. .venv/bin/activate`, then `syncjobs local up` "
            '(README: "Your own data in five minutes")',
            highlight=False,
        )
        return 0


if __name__ == "__main__":
    sys.exit(main())
