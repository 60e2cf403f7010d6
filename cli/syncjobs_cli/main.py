"""`syncjobs`: define, schedule, run, stop and inspect jobs, the same way on a laptop and in AWS."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from syncjobs_cli import endpoint
from syncjobs_cli.api import FAILED_RUN, INVALID, NOT_FOUND, OK, Api, CliError, segment

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False)
jobs_app = typer.Typer(help="Define and inspect jobs.", no_args_is_help=True)
runs_app = typer.Typer(help="Inspect runs.", no_args_is_help=True)
logs_app = typer.Typer(help="Download a run's outcome logs.", no_args_is_help=True)
schedule_app = typer.Typer(help="Schedule jobs (EventBridge rules).", no_args_is_help=True)
local_app = typer.Typer(help="The local stack (moto, scim2-server, pollers).", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(runs_app, name="runs")
app.add_typer(logs_app, name="logs")
app.add_typer(schedule_app, name="schedule")
app.add_typer(local_app, name="local")

# Off a terminal (a pipe, a script), lines are 120 wide unless COLUMNS says otherwise.
_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120
out = Console(width=_WIDTH)
err = Console(stderr=True, width=_WIDTH, highlight=False)
FINAL = {"succeeded", "finished_with_errors", "failed", "stopped", "skipped"}


class _State:
    api: Api | None = None
    options: dict[str, Any] = {}


def api() -> Api:
    if _State.api is None:
        _State.api = endpoint.resolve(**_State.options)
    return _State.api


@app.callback()
def main(
    api_url: Annotated[str | None, typer.Option("--api", envvar="SYNCJOBS_API", help="admin API base URL")] = None,
    stack: Annotated[str, typer.Option(envvar="SYNCJOBS_STACK", help="CloudFormation stack name")] = "syncjobs",
    profile: Annotated[str | None, typer.Option(envvar="AWS_PROFILE", help="AWS profile")] = None,
    region: Annotated[str | None, typer.Option(envvar="AWS_REGION", help="AWS region")] = None,
) -> None:
    _State.api = None
    _State.options = {"api_url": api_url, "stack": stack, "profile": profile, "region": region}


Loaded = TypeVar("Loaded")


def load_file(loader: Callable[[Path], Loaded], file: Path) -> Loaded:
    """A definition file read and checked here, before anything is sent (exit 2 naming the field)."""
    from syncjobs.admin.operations import InvalidInput

    try:
        return loader(file)
    except InvalidInput as problem:
        raise CliError(f"{file}: {problem}", INVALID) from None
    except OSError as problem:
        raise CliError(f"{file}: {problem.strerror}", INVALID) from None


# ---------------------------------------------------------------------- jobs
@jobs_app.command("apply")
def jobs_apply(file: Annotated[Path, typer.Option("--file", "-f", help="job YAML file")]) -> None:
    """Create or replace a job from its YAML file."""
    from syncjobs.admin.operations import load_job_file

    job = load_file(load_job_file, file)
    answer = api().call("PUT", f"/jobs/{segment(job.job_id)}", job.to_document())
    out.print(f"job {job.job_id} applied (version {answer['version']})")


@jobs_app.command("list")
def jobs_list() -> None:
    """Every job, with its schedule and last status."""
    table = Table("job", "name", "source", "target", "schedule", "last status", "active run")
    for job in api().call("GET", "/jobs")["jobs"]:
        status = job["last_status"] or "-"
        table.add_row(
            job["job_id"],
            job["name"],
            job["source"],
            job["target"],
            job["schedule"] or "-",
            f"{status} (quarantined)" if job.get("quarantine") else status,
            job["active_run"] or "-",
        )
    out.print(table)


@jobs_app.command("show")
def jobs_show(job_id: str) -> None:
    """A job's definition summary, schedule, subscribers and state."""
    job = api().call("GET", f"/jobs/{segment(job_id)}")
    table = Table(show_header=False, box=None)
    for label, value in (
        ("job", f"{job['job_id']} (version {job['version']})"),
        ("name", job["name"]),
        ("source", job["source"]),
        ("target", job["target"]),
        ("entity types", ", ".join(job["entity_types"])),
        ("schedule", job["schedule"] or "none"),
        ("last status", job["last_status"] or "never ran"),
        ("failed runs in a row", str(job["failure_streak"])),
        ("quarantine", _quarantine(job.get("quarantine"))),
        ("active run", job["active_run"] or "none"),
        ("subscribers", ", ".join(f"{s['email']} ({s['trigger']})" for s in job["subscribers"]) or "none"),
    ):
        table.add_row(f"[bold]{label}[/bold]", value)
    out.print(table)


def _quarantine(quarantine: dict[str, Any] | None) -> str:
    if not quarantine:
        return "no"
    return (
        f"since {_when(quarantine['since'])}: {quarantine['reason']}; scheduled runs skipped until "
        f"{_when(quarantine['next_attempt_at'])} (attempts {quarantine['attempts']}); "
        "clear with `syncjobs jobs restart`"
    )


def _when(iso: str) -> str:
    return iso[:16].replace("T", " ") + " UTC"


@jobs_app.command("restart")
def jobs_restart(job_id: str) -> None:
    """Clear a quarantine, the streak of outright failures and the delta watermarks (full read next)."""
    job = api().call("POST", f"/jobs/{segment(job_id)}/restart")
    out.print(f"job {job_id} restarted: not quarantined, next run reads everything ({job['last_status'] or '-'})")


@jobs_app.command("delete")
def jobs_delete(job_id: str, yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False) -> None:
    """Delete a job, its subscriptions and schedule (its runs and logs stay)."""
    if not yes and not typer.confirm(f"Delete job {job_id}?"):
        raise typer.Exit(OK)
    api().call("DELETE", f"/jobs/{segment(job_id)}")
    out.print(f"job {job_id} deleted")


# ---------------------------------------------------------------------- runs
@app.command("run")
def run(
    job_id: str,
    run_type: Annotated[str, typer.Option("--type", help="read, resync, simulate or validate")] = "read",
    wait: Annotated[bool, typer.Option("--wait", help="follow the run to its end")] = False,
    timeout: Annotated[float, typer.Option(help="seconds --wait waits at most")] = 3600,
) -> None:
    """Start a run now. With --wait, show its progress; the exit code is 0 only if it succeeded."""
    answer = api().call(
        "POST", f"/jobs/{segment(job_id)}/runs", {"type": run_type}, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    if answer.get("approval_id"):
        out.print(f"job {job_id} needs approval: request {answer['approval_id']}; its approvers get a preview")
        return
    run_id = answer["run_id"]
    out.print(f"run {run_id} started")
    if not wait:
        return
    final = _follow(run_id, timeout)
    _print_run(final)
    if final["status"] != "succeeded":
        raise typer.Exit(FAILED_RUN)


def poll(path: str, not_yet: dict[str, Any], what: str, timeout: float, seen: Callable[[dict[str, Any]], None]) -> Any:
    """GET `path` every half second until its status is final (`not_yet` stands in while it is not
    written yet); `seen` is shown each answer. CliError (exit 1) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            current = api().call("GET", path)
        except CliError as problem:
            if problem.code != NOT_FOUND:  # start_run (asynchronous) has not written it yet
                raise
            current = not_yet
        seen(current)
        if current["status"] in FINAL:
            return current
        if time.monotonic() > deadline:
            raise CliError(f"{what} is still {current['status']} after {timeout:.0f}s", FAILED_RUN)
        time.sleep(0.5)


def printer() -> Callable[[str], None]:
    """Print a line only when it differs from the last one printed (progress off a terminal)."""
    last = [""]

    def show(line: str) -> None:
        if line != last[0]:
            out.print(line)
            last[0] = line

    return show


def _follow(run_id: str, timeout: float) -> dict[str, Any]:
    """Poll the run to its end: a live bar on a terminal, a line per change of progress otherwise."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    show = printer()
    with Progress(*columns, console=out, disable=not out.is_terminal) as progress:
        task = progress.add_task("shards", total=None)

        def seen(current: dict[str, Any]) -> None:
            entities = sum(n for per in current["counts"].values() for n in per.values())
            shards = f"{current['shards_done']}/{current['shards_total'] or '?'}"
            line = f"{current['status']}: {shards} shards, {entities} entities"
            progress.update(task, total=current["shards_total"], completed=current["shards_done"], description=line)
            if not out.is_terminal:
                show(line)

        not_yet = {"status": "queued", "shards_done": 0, "shards_total": None, "counts": {}}
        return dict(poll(f"/runs/{segment(run_id)}", not_yet, f"run {run_id}", timeout, seen))


@runs_app.command("list")
def runs_list(job_id: str) -> None:
    """A job's runs, newest first."""
    run_column = Column("run", no_wrap=True)
    table = Table(run_column, "type", "mode", "trigger", "status", "started", "created", "updated", "deleted", "failed")
    for r in api().call("GET", f"/jobs/{segment(job_id)}/runs")["runs"]:
        totals = _totals(r)
        table.add_row(
            r["run_id"],
            r["run_type"],
            r["read_mode"],
            r["trigger"],
            r["status"],
            (r["started_at"] or "-")[:19],
            *(str(totals[o]) for o in ("created", "updated", "deleted", "failed")),
        )
    out.print(table)


@runs_app.command("show")
def runs_show(run_id: str) -> None:
    """A run's details: type, read mode, trigger, status, times, counts, failures, mails, logs."""
    _print_run(api().call("GET", f"/runs/{segment(run_id)}"))


def _totals(r: dict[str, Any]) -> dict[str, int]:
    totals = dict.fromkeys(("created", "updated", "deleted", "skipped", "failed"), 0)
    for per in r["counts"].values():
        for outcome, n in per.items():
            totals[outcome] += n
    return totals


def _print_run(r: dict[str, Any]) -> None:
    details = Table(show_header=False, box=None)
    for label, value in (
        ("run", r["run_id"]),
        ("job", f"{r['job_name']} ({r['job_id']})"),
        ("type / read mode", f"{r['run_type']} / {r['read_mode']}"),
        ("trigger", f"{r['trigger']} by {r['triggered_by']}"),
        ("status", r["status"] + (f": {r['reason']}" if r.get("reason") else "")),
        ("started / ended", f"{r['started_at'] or '-'} / {r['ended_at'] or '-'}"),
        ("deletions", r.get("deletes_note") or "as planned"),
    ):
        details.add_row(f"[bold]{label}[/bold]", str(value))
    out.print(details)
    counts = Table("entity type", "created", "updated", "deleted", "skipped", "failed")
    for entity_type, per in r["counts"].items():
        counts.add_row(
            entity_type, *(str(per.get(o, 0)) for o in ("created", "updated", "deleted", "skipped", "failed"))
        )
    out.print(counts)
    for failure in r.get("failures", []):
        out.print(f"  failed {failure['entity_type']} {failure['entity_id']}: {failure['reason']}")
    for note in r.get("notifications", []):
        out.print(f"  mail {note['kind']} to {note['recipient']}: {note['state']} ({note['reason']})")
    if r.get("log_keys"):
        out.print("  logs: " + ", ".join(sorted(r["log_keys"])) + f"  (syncjobs logs get {r['run_id']} --outcome ...)")


@app.command("stop")
def stop(run_id: str) -> None:
    """Stop a run: every shard stops within one batch; the run ends `stopped` with its logs."""
    answer = api().call("POST", f"/runs/{segment(run_id)}/stop")
    out.print(f"run {run_id} is {answer['status']}")


@logs_app.command("get")
def logs_get(
    run_id: str,
    outcome: Annotated[str, typer.Option(help="created, updated, deleted, skipped or failed")] = "failed",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="file (default: stdout)")] = None,
) -> None:
    """Download one of a run's outcome logs."""
    response = api().send("GET", f"/runs/{segment(run_id)}/logs/{segment(outcome)}")
    if response.status_code != 302:
        Api.raise_for(response)  # the API's reason (404: no such run or log)
        raise CliError(f"unexpected answer {response.status_code}", INVALID)
    data = httpx.get(response.headers["Location"], timeout=60).raise_for_status().content
    if output is None:
        sys.stdout.buffer.write(data)
    else:
        output.write_bytes(data)
        err.print(f"{outcome} log of run {run_id}: {len(data)} bytes -> {output}")


# ---------------------------------------------------------------------- subscriptions
@app.command("subscribe")
def subscribe(
    job_id: str,
    email: str,
    trigger: Annotated[str, typer.Option(help="default, always, records_updated, errors or job_fails")] = "default",
) -> None:
    """Subscribe a person or a distribution list to a job's mails."""
    answer = api().call("PUT", f"/jobs/{segment(job_id)}/subscribers/{segment(email)}", {"trigger": trigger})
    out.print(f"{answer['email']} subscribed to {job_id} ({answer['trigger']})")


@app.command("unsubscribe")
def unsubscribe(job_id: str, email: str) -> None:
    api().call("DELETE", f"/jobs/{segment(job_id)}/subscribers/{segment(email)}")
    out.print(f"{email} unsubscribed from {job_id}")


@app.command("subscribers")
def subscribers(job_id: str) -> None:
    table = Table("email", "trigger")
    for s in api().call("GET", f"/jobs/{segment(job_id)}/subscribers")["subscribers"]:
        table.add_row(s["email"], s["trigger"])
    out.print(table)


# ---------------------------------------------------------------------- schedules
_COLLECTION = typer.Option("--collection", help="the id names a job collection, not a job")


def _owner(collection: bool) -> tuple[str, str]:
    return ("collections", "collection") if collection else ("jobs", "job")


@schedule_app.command("set")
def schedule_set(
    job_id: str,
    expression: str,
    run_type: Annotated[str, typer.Option("--type", help="the run type fired")] = "read",
    collection: Annotated[bool, _COLLECTION] = False,
) -> None:
    """Schedule a job (or a collection): 'rate(1 hour)' or 'cron(0 8 ? * MON-FRI *)' (UTC)."""
    path, noun = _owner(collection)
    answer = api().call("PUT", f"/{path}/{segment(job_id)}/schedule", {"expression": expression, "type": run_type})
    out.print(f"{noun} {job_id} scheduled: {answer['expression']} ({answer['type']}); next {answer['next_fires'][0]}")


@schedule_app.command("clear")
def schedule_clear(job_id: str, collection: Annotated[bool, _COLLECTION] = False) -> None:
    path, noun = _owner(collection)
    answer = api().call("DELETE", f"/{path}/{segment(job_id)}/schedule")
    out.print(f"{noun} {job_id}: schedule {'removed' if answer['removed'] else 'was not set'}")


@schedule_app.command("next")
def schedule_next(job_id: str, collection: Annotated[bool, _COLLECTION] = False) -> None:
    """The next five fire times (UTC)."""
    path, noun = _owner(collection)
    answer = api().call("GET", f"/{path}/{segment(job_id)}/schedule")
    if not answer["scheduled"]:
        out.print(f"{noun} {job_id} has no schedule")
        return
    out.print(f"{answer['expression']} ({answer['type']}):")
    for fire in answer["next_fires"]:
        out.print(f"  {fire}")


# ---------------------------------------------------------------------- local stack
@local_app.command("up")
def local_up(workdir: Annotated[Path | None, typer.Option(help="where the outbox goes")] = None) -> None:
    """Run the local stack in the foreground; the other commands find it until it stops (Ctrl-C)."""
    from syncjobs_cli.local import serve

    serve(workdir, out)


from syncjobs_cli import collections_cli  # noqa: E402, F401 - adds `collections` and `approvals` to `app`
from syncjobs_cli import local as local_cli  # noqa: E402, F401 - adds `local upload` and `local secret`


def run_cli() -> None:
    try:
        app()
    except CliError as problem:
        err.print(f"[red]error:[/red] {problem.message}", highlight=False)
        sys.exit(problem.code)
