"""`syncjobs`: define, schedule, run, stop and inspect jobs, the same way on a laptop and in AWS."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table
from typer.core import TyperArgument

from syncjobs_cli import endpoint
from syncjobs_cli.api import FAILED_RUN, INVALID, NOT_FOUND, OK, Api, CliError, segment
from syncjobs_cli.output import (
    Format,
    OutputOption,
    current,
    emit,
    err,
    label,
    out,
    parse_since,
    print_error,
    say,
)


def _argument_type(self: Any, ctx: Any) -> str | None:
    """An argument's metavar says what it is (JOB, RUN); typer 0.29 would add its Python type (`JOB <str>`)."""
    return None


TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign]

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None)
jobs_app = typer.Typer(help="Define and inspect jobs.", no_args_is_help=True)
runs_app = typer.Typer(help="Inspect runs.", no_args_is_help=True)
logs_app = typer.Typer(help="Download a run's outcome logs.", no_args_is_help=True)
schedule_app = typer.Typer(help="Schedule jobs (EventBridge Scheduler, in a time zone).", no_args_is_help=True)
local_app = typer.Typer(help="The local stack (moto, scim2-server, pollers).", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(runs_app, name="runs")
app.add_typer(logs_app, name="logs")
app.add_typer(schedule_app, name="schedule")
app.add_typer(local_app, name="local")

FINAL = {"succeeded", "finished_with_errors", "failed", "stopped", "skipped"}
DISTRIBUTION = "syncjobs"  # pyproject.toml's [project] name

JobArg = Annotated[str, typer.Argument(metavar="JOB", help="the job's id (job_id in its file)", show_default=False)]
RunArg = Annotated[str, typer.Argument(metavar="RUN", help="the run's id (run-...)", show_default=False)]
EmailArg = Annotated[str, typer.Argument(metavar="EMAIL", help="a person's or a distribution list's address")]
OwnerArg = Annotated[str, typer.Argument(metavar="ID", help="the job's id (or the collection's, with --collection)")]
RunTypeOption = Annotated[
    str, typer.Option("--type", metavar="TYPE", help="the run type: read, resync, simulate or validate")
]
WaitOption = Annotated[bool, typer.Option("--wait", help="follow it to its end; exit 0 only if it succeeded")]
TimeoutOption = Annotated[float, typer.Option(metavar="SECONDS", help="how long --wait waits at most")]
YesOption = Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")]


class _State:
    api: Api | None = None
    options: dict[str, Any] = {}


def api() -> Api:
    if _State.api is None:
        _State.api = endpoint.resolve(**_State.options)
    return _State.api


def package_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _print_version(wanted: bool) -> None:
    if wanted:
        sys.stdout.write(f"syncjobs {package_version()}\n")
        raise typer.Exit(OK)


@app.callback()
def main(
    api_url: Annotated[
        str | None, typer.Option("--api", metavar="URL", envvar="SYNCJOBS_API", help="the admin API's base URL")
    ] = None,
    stack: Annotated[
        str, typer.Option(metavar="NAME", envvar="SYNCJOBS_STACK", help="the CloudFormation stack's name")
    ] = "syncjobs",
    profile: Annotated[str | None, typer.Option(metavar="NAME", envvar="AWS_PROFILE", help="the AWS profile")] = None,
    region: Annotated[str | None, typer.Option(metavar="REGION", envvar="AWS_REGION", help="the AWS region")] = None,
    output: OutputOption = None,
    show_version: Annotated[
        bool,
        typer.Option("--version", help="print the version and exit", is_eager=True, callback=_print_version),
    ] = False,
) -> None:
    from syncjobs_cli.output import choose

    _State.api = None
    _State.options = {"api_url": api_url, "stack": stack, "profile": profile, "region": region}
    choose(output)


Loaded = TypeVar("Loaded")


def load_file(loader: Callable[[Path], Loaded], file: Path) -> Loaded:
    """A definition file read and checked here, before anything is sent (exit 2 naming the field).
    The loader's message names the file already."""
    from syncjobs.admin.operations import InvalidInput

    try:
        return loader(file)
    except InvalidInput as problem:
        raise CliError(str(problem), INVALID) from None
    except OSError as problem:
        raise CliError(f"{file}: {problem.strerror}", INVALID) from None


def detail_table(rows: list[tuple[str, str]]) -> Table:
    table = Table(show_header=False, box=None)
    for name, value in rows:
        table.add_row(label(name), value)
    return table


# ---------------------------------------------------------------------- jobs
FileOption = Annotated[Path, typer.Option("--file", "-f", metavar="FILE", help="the job's YAML file")]


@jobs_app.command("apply")
def jobs_apply(file: FileOption, output: OutputOption = None) -> None:
    """Create or replace a job from its YAML file. A file that matches the stored job changes nothing."""
    from syncjobs.admin.operations import load_job_file, parse_job

    job = load_file(load_job_file, file)
    path = f"/jobs/{segment(job.job_id)}"
    try:
        stored = api().call("GET", path)
    except CliError as problem:
        if problem.code != NOT_FOUND:
            raise
        stored = None
    if stored is not None and parse_job(stored["definition"]).to_document() == job.to_document():
        answer = {"job_id": job.job_id, "version": stored["version"], "changed": False}
    else:
        answer = {**api().call("PUT", path, job.to_document()), "changed": True}
    word = "applied" if answer["changed"] else "unchanged"
    emit(
        answer,
        current(output),
        lambda: say(f"job {job.job_id} {word} (version {answer['version']})"),
        [(answer["job_id"], answer["version"], word)],
    )


@jobs_app.command("list")
def jobs_list(output: OutputOption = None) -> None:
    """Every job, with its schedule and last status."""
    answer = api().call("GET", "/jobs")
    jobs = answer["jobs"]

    def status(job: dict[str, Any]) -> str:
        last = job["last_status"] or "-"
        return f"{last} (quarantined)" if job.get("quarantine") else last

    def table() -> None:
        table = Table("job", "name", "source", "target", "schedule", "last status", "active run")
        for job in jobs:
            table.add_row(
                job["job_id"],
                job["name"],
                job["source"],
                job["target"],
                job["schedule"] or "-",
                status(job),
                job["active_run"] or "-",
            )
        out.print(table)

    rows = [(j["job_id"], j["name"], j["source"], j["target"], j["schedule"], status(j), j["active_run"]) for j in jobs]
    emit(answer, current(output), table, rows)


@jobs_app.command("show")
def jobs_show(job_id: JobArg, output: OutputOption = None) -> None:
    """A job's summary, schedule, subscribers, state and mapping (`jobs get` prints its whole definition)."""
    job = api().call("GET", f"/jobs/{segment(job_id)}")
    definition = job.get("definition") or {}

    def table() -> None:
        rows = [
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
        ]
        out.print(detail_table(rows))
        for entity_type, attributes in (definition.get("mapping") or {}).items():
            mapping = Table(f"{entity_type}: target attribute", "expression")
            for attribute, expression in attributes.items():
                mapping.add_row(attribute, expression)
            out.print(mapping)

    text = [
        (
            job["job_id"],
            job["version"],
            job["name"],
            job["source"],
            job["target"],
            job["schedule"],
            job["last_status"],
            job["failure_streak"],
            job["active_run"],
        ),
        *(
            ("MAPPING", entity_type, attribute, expression)
            for entity_type, attributes in (definition.get("mapping") or {}).items()
            for attribute, expression in attributes.items()
        ),
    ]
    emit(job, current(output), table, text)


@jobs_app.command("get")
def jobs_get(
    job_id: JobArg,
    output: Annotated[
        str, typer.Option("--output", "-o", metavar="FORMAT", help="yaml or json: what `jobs apply -f` reads")
    ] = "yaml",
) -> None:
    """A job's definition, exactly as `jobs apply -f FILE` takes it back:
    `syncjobs jobs get JOB > job.yaml`, edit, `syncjobs jobs apply -f job.yaml`."""
    if output not in {"yaml", "json"}:
        raise CliError(f"--output: jobs get prints yaml or json (got {output!r})", INVALID)
    definition = api().call("GET", f"/jobs/{segment(job_id)}")["definition"]
    if output == "json":
        emit(definition, Format.JSON, lambda: None)
    else:
        sys.stdout.write(yaml.safe_dump(definition, sort_keys=False, allow_unicode=True, width=1_000_000))


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
def jobs_restart(job_id: JobArg, output: OutputOption = None) -> None:
    """Clear a quarantine, the streak of outright failures and the delta watermarks (full read next)."""
    job = api().call("POST", f"/jobs/{segment(job_id)}/restart")
    line = f"job {job_id} restarted: not quarantined, next run reads everything ({job['last_status'] or '-'})"
    emit(job, current(output), lambda: say(line), [(job["job_id"], job["last_status"])])


@jobs_app.command("delete")
def jobs_delete(job_id: JobArg, yes: YesOption = False, output: OutputOption = None) -> None:
    """Delete a job, its subscriptions and schedule (its runs and logs stay)."""
    if not yes and not typer.confirm(f"Delete job {job_id}?", err=True):
        raise typer.Exit(OK)
    answer = api().call("DELETE", f"/jobs/{segment(job_id)}")
    emit(answer, current(output), lambda: say(f"job {job_id} deleted"), [(job_id, "deleted")])


# ---------------------------------------------------------------------- runs
@app.command("run")
def run(
    job_id: JobArg,
    run_type: RunTypeOption = "read",
    wait: WaitOption = False,
    timeout: TimeoutOption = 3600,
    output: OutputOption = None,
    failed_of: Annotated[
        str | None,
        typer.Option(
            "--failed-of", metavar="RUN", help="process only the failed entities of RUN, an ended run of the job"
        ),
    ] = None,
) -> None:
    """Start a run now. Without --wait, print its id and how to follow it; with --wait, show its
    progress and its details (exit 0 only if it succeeded). With --failed-of, only that run's failed
    entities are read and processed (and nothing is deleted)."""
    fmt = current(output)
    body: dict[str, Any] = {"type": run_type}
    if failed_of is not None:
        body["failed_of"] = failed_of
    answer = api().call("POST", f"/jobs/{segment(job_id)}/runs", body, headers={"Idempotency-Key": str(uuid.uuid4())})
    if answer.get("approval_id"):
        line = f"job {job_id} needs approval: request {answer['approval_id']}; its approvers get a preview"
        emit(answer, fmt, lambda: say(line), [("APPROVAL", answer["approval_id"])])
        return
    run_id = answer["run_id"]
    if not wait:

        def started() -> None:
            say(f"run {run_id} started")
            say(f"  follow it: syncjobs runs show {run_id}   (or start with --wait: syncjobs run {job_id} --wait)")

        emit(answer, fmt, started, [(run_id,)])
        return
    if fmt is Format.TABLE:
        say(f"run {run_id} started")
    final = _follow(run_id, timeout, show_progress=fmt is Format.TABLE)
    emit(final, fmt, lambda: _print_run(final), [_run_row(final)])
    if final["status"] != "succeeded":
        raise typer.Exit(FAILED_RUN)


def poll(path: str, not_yet: dict[str, Any], what: str, timeout: float, seen: Callable[[dict[str, Any]], None]) -> Any:
    """GET `path` every half second until its status is final (`not_yet` stands in while it is not
    written yet); `seen` is shown each answer. CliError (exit 1) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            current_state = api().call("GET", path)
        except CliError as problem:
            if problem.code != NOT_FOUND:  # start_run (asynchronous) has not written it yet
                raise
            current_state = not_yet
        seen(current_state)
        if current_state["status"] in FINAL:
            return current_state
        if time.monotonic() > deadline:
            raise CliError(f"{what} is still {current_state['status']} after {timeout:.0f}s", FAILED_RUN)
        time.sleep(0.5)


def printer(enabled: bool = True) -> Callable[[str], None]:
    """Print a line only when it differs from the last one printed (progress off a terminal)."""
    last = [""]

    def show(line: str) -> None:
        if enabled and line != last[0]:
            say(line)
            last[0] = line

    return show


def _follow(run_id: str, timeout: float, show_progress: bool) -> dict[str, Any]:
    """Poll the run to its end: a live bar on a terminal, a line per change of progress otherwise
    (neither for json and text output: stdout is the answer only)."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    show = printer(show_progress and not out.is_terminal)
    with Progress(*columns, console=out, disable=not (show_progress and out.is_terminal)) as progress:
        task = progress.add_task("shards", total=None)

        def seen(state: dict[str, Any]) -> None:
            entities = sum(n for per in state["counts"].values() for n in per.values())
            shards = f"{state['shards_done']}/{state['shards_total'] or '?'}"
            line = f"{state['status']}: {shards} shards, {entities} entities"
            progress.update(task, total=state["shards_total"], completed=state["shards_done"], description=line)
            show(line)

        not_yet = {"status": "queued", "shards_done": 0, "shards_total": None, "counts": {}}
        return dict(poll(f"/runs/{segment(run_id)}", not_yet, f"run {run_id}", timeout, seen))


_OUTCOMES = ("created", "updated", "deleted", "skipped", "failed")


@runs_app.command("list")
def runs_list(
    job_arg: Annotated[
        str | None, typer.Argument(metavar="JOB", help="the job's id (or --job)", show_default=False)
    ] = None,
    job: Annotated[str | None, typer.Option("--job", metavar="JOB", help="the job whose runs to list")] = None,
    status: Annotated[
        str | None,
        typer.Option(
            metavar="STATUS",
            help="only runs in this status: queued, running, stopping, stopped, succeeded, "
            "finished_with_errors, failed or skipped",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(metavar="WHEN", help="only runs created since: an ISO time or a duration back (30m, 12h, 7d)"),
    ] = None,
    limit: Annotated[int, typer.Option(metavar="N", min=1, max=100, help="runs per page (1-100)")] = 50,
    next_token: Annotated[
        str | None, typer.Option("--next-token", metavar="TOKEN", help="the next page: the token the last one gave")
    ] = None,
    output: OutputOption = None,
) -> None:
    """A job's runs, newest first, a page at a time (json carries next_token; table and text say it)."""
    job_id = job or job_arg
    if job and job_arg and job != job_arg:
        raise CliError(f"two jobs given: {job_arg} and --job {job}", INVALID)
    if not job_id:
        raise CliError("which job? syncjobs runs list --job JOB", INVALID)
    query: dict[str, str] = {"limit": str(limit)}
    if status:
        query["status"] = status
    if since:
        query["since"] = parse_since(since).isoformat()
    if next_token:
        query["next_token"] = next_token
    answer = api().call("GET", f"/jobs/{segment(job_id)}/runs", params=query)
    runs = answer["runs"]
    token = answer.get("next_token")
    more = f"more runs: syncjobs runs list --job {job_id} --next-token {token}" if token else ""

    def table() -> None:
        run_column = Column("run", no_wrap=True)
        table = Table(run_column, "type", "mode", "trigger", "status", "started", *_OUTCOMES[:3], "failed")
        for r in runs:
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
        if more:
            say(more)

    emit(answer, current(output), table, [_run_row(r) for r in runs])
    if more and current(output) is Format.TEXT:
        err.print(more)


def _run_row(r: dict[str, Any]) -> tuple[Any, ...]:
    totals = _totals(r)
    return (
        r["run_id"],
        r["job_id"],
        r["run_type"],
        r["read_mode"],
        r["trigger"],
        r["status"],
        r["created_at"],
        r["started_at"],
        r["ended_at"],
        *(totals[o] for o in _OUTCOMES),
    )


@runs_app.command("show")
def runs_show(run_id: RunArg, output: OutputOption = None) -> None:
    """A run's details: type, read mode, trigger, status, times, counts, failures, mails, logs."""
    r = api().call("GET", f"/runs/{segment(run_id)}")
    emit(r, current(output), lambda: _print_run(r), [_run_row(r)])


def _totals(r: dict[str, Any]) -> dict[str, int]:
    totals = dict.fromkeys(_OUTCOMES, 0)
    for per in r["counts"].values():
        for outcome, n in per.items():
            totals[outcome] = totals.get(outcome, 0) + n
    return totals


def _print_run(r: dict[str, Any]) -> None:
    out.print(
        detail_table(
            [
                ("run", r["run_id"]),
                ("job", f"{r['job_name']} ({r['job_id']})"),
                ("type / read mode", f"{r['run_type']} / {r['read_mode']}"),
                ("trigger", f"{r['trigger']} by {r['triggered_by']}"),
                ("status", r["status"] + (f": {r['reason']}" if r.get("reason") else "")),
                ("started / ended", f"{r['started_at'] or '-'} / {r['ended_at'] or '-'}"),
                ("deletions", r.get("deletes_note") or "as planned"),
            ]
        )
    )
    named = r.get("named_counts") or r["counts"]  # a validate run's: valid and invalid (the API names them)
    names = next(iter(named.values()), None) or dict.fromkeys(_OUTCOMES, 0)
    counts = Table("entity type", *names)
    for entity_type, per in named.items():
        counts.add_row(entity_type, *(str(per.get(name, 0)) for name in names))
    out.print(counts)
    if r.get("failed_of"):
        say(f"  only the failed entities of run {r['failed_of']}")
    for failure in r.get("failures", []):
        say(f"  failed {failure['entity_type']} {failure['entity_id']}: {failure['reason']}")
    for note in r.get("notifications", []):
        say(f"  mail {note['kind']} to {note['recipient']}: {note['state']} ({note['reason']})")
    if r.get("log_keys"):
        say("  logs: " + ", ".join(sorted(r["log_keys"])) + f"  (syncjobs logs get {r['run_id']} --outcome ...)")


@app.command("stop")
def stop(run_id: RunArg, output: OutputOption = None) -> None:
    """Stop a run: every shard stops within one batch; the run ends `stopped` with its logs."""
    answer = api().call("POST", f"/runs/{segment(run_id)}/stop")
    emit(answer, current(output), lambda: say(f"run {run_id} is {answer['status']}"), [(run_id, answer["status"])])


EntityIdOption = Annotated[
    str, typer.Option("--id", metavar="ID", help="the entity's id in the job's source", show_default=False)
]
EntityTypeOption = Annotated[str, typer.Option("--entity-type", metavar="TYPE", help="users or groups")]


@app.command("provision")
def provision(
    job_id: JobArg, entity_id: EntityIdOption, entity_type: EntityTypeOption = "users", output: OutputOption = None
) -> None:
    """Provision one entity now and show each step: scope, mapped resource, stored state and diff, the
    target's request and response (no credentials), the outcome. Recorded as a run (trigger provision);
    refused while a run holds the job's lock. Exit 0 unless the entity failed."""
    answer = api().call("POST", f"/jobs/{segment(job_id)}/provision", {"id": entity_id, "entity_type": entity_type})

    def steps() -> None:
        say(f"provision {answer['entity_type']} {answer['entity_id']} of job {answer['job_id']}")
        for step in answer["steps"]:
            say(f"  {step['step']:<8} {step['summary']}")
            for line in yaml.safe_dump(step["detail"], sort_keys=False).splitlines() if step.get("detail") else ():
                say(f"             {line}")
        run_id, outcome = answer["run_id"], answer["outcome"]
        say(f"run {run_id} ({answer['run_status']}): syncjobs logs get {run_id} --outcome {outcome}")

    rows = [(s["step"], s["summary"]) for s in answer["steps"]]
    emit(answer, current(output), steps, [*rows, ("run", answer["run_id"], answer["run_status"])])
    if answer["outcome"] == "failed":
        raise typer.Exit(FAILED_RUN)


@logs_app.command("get")
def logs_get(
    run_id: RunArg,
    outcome: Annotated[
        str, typer.Option(metavar="OUTCOME", help="created, updated, deleted, skipped or failed")
    ] = "failed",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="FILE", help="write it to FILE (default: stdout)")
    ] = None,
) -> None:
    """Download one of a run's outcome logs (CSV or JSON lines, as the job's log_format says)."""
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
    job_id: JobArg,
    email: EmailArg,
    trigger: Annotated[
        str,
        typer.Option(metavar="TRIGGER", help="when mail goes: default, always, records_updated, errors or job_fails"),
    ] = "default",
    output: OutputOption = None,
) -> None:
    """Subscribe a person or a distribution list to a job's mails."""
    answer = api().call("PUT", f"/jobs/{segment(job_id)}/subscribers/{segment(email)}", {"trigger": trigger})
    line = f"{answer['email']} subscribed to {job_id} ({answer['trigger']})"
    emit(answer, current(output), lambda: say(line), [(answer["email"], answer["trigger"])])


@app.command("unsubscribe")
def unsubscribe(job_id: JobArg, email: EmailArg, output: OutputOption = None) -> None:
    """Stop a job's mails to an address."""
    answer = api().call("DELETE", f"/jobs/{segment(job_id)}/subscribers/{segment(email)}")
    emit(answer, current(output), lambda: say(f"{email} unsubscribed from {job_id}"), [(email, "unsubscribed")])


@app.command("subscribers")
def subscribers(job_id: JobArg, output: OutputOption = None) -> None:
    """Who gets a job's mails, and when (the trigger)."""
    answer = api().call("GET", f"/jobs/{segment(job_id)}/subscribers")

    def table() -> None:
        table = Table("email", "trigger")
        for s in answer["subscribers"]:
            table.add_row(s["email"], s["trigger"])
        out.print(table)

    emit(answer, current(output), table, [(s["email"], s["trigger"]) for s in answer["subscribers"]])


# ---------------------------------------------------------------------- schedules
CollectionFlag = Annotated[bool, typer.Option("--collection", help="the id names a job collection, not a job")]


def _owner(collection: bool) -> tuple[str, str]:
    return ("collections", "collection") if collection else ("jobs", "job")


@schedule_app.command("set")
def schedule_set(
    job_id: OwnerArg,
    expression: Annotated[
        str,
        typer.Argument(metavar="EXPRESSION", help="'rate(1 hour)' or 'cron(0 8 ? * MON-FRI *)' (times in --timezone)"),
    ],
    run_type: Annotated[str, typer.Option("--type", metavar="TYPE", help="the run type fired")] = "read",
    timezone: Annotated[
        str,
        typer.Option(
            "--timezone",
            metavar="ZONE",
            help="the IANA time zone of a cron's times, daylight saving included (Europe/Berlin)",
        ),
    ] = "UTC",
    collection: CollectionFlag = False,
    output: OutputOption = None,
) -> None:
    """Schedule a job (or a collection): 'rate(1 hour)' or 'cron(0 8 ? * MON-FRI *)', in UTC or --timezone."""
    path, noun = _owner(collection)
    body = {"expression": expression, "type": run_type, "timezone": timezone}
    answer = api().call("PUT", f"/{path}/{segment(job_id)}/schedule", body)
    fires = _fires(answer)
    zone = "" if answer.get("timezone", "UTC") == "UTC" else f" in {answer['timezone']}"
    first = fires[0] if fires else "none"
    line = f"{noun} {job_id} scheduled: {answer['expression']}{zone} ({answer['type']}); next {first}"
    text = [(job_id, answer["expression"], answer.get("timezone", "UTC"), answer["type"])]
    emit(answer, current(output), lambda: say(line), text)


def _fires(answer: dict[str, Any]) -> list[str]:
    """A schedule's next fires as people read them: local time and UTC, or UTC alone for a UTC schedule."""
    utc = answer["next_fires"]
    local = answer.get("next_fires_local") or utc
    if answer.get("timezone", "UTC") == "UTC":
        return list(utc)
    return [f"{at}  ({then} UTC)" for at, then in zip(local, utc, strict=True)]


@schedule_app.command("clear")
def schedule_clear(job_id: OwnerArg, collection: CollectionFlag = False, output: OutputOption = None) -> None:
    """Remove a job's (or a collection's) schedule; runs started by hand are unaffected."""
    path, noun = _owner(collection)
    answer = api().call("DELETE", f"/{path}/{segment(job_id)}/schedule")
    line = f"{noun} {job_id}: schedule {'removed' if answer['removed'] else 'was not set'}"
    emit(answer, current(output), lambda: say(line), [(job_id, answer["removed"])])


@schedule_app.command("next")
def schedule_next(job_id: OwnerArg, collection: CollectionFlag = False, output: OutputOption = None) -> None:
    """The next five fire times, in the schedule's time zone and in UTC."""
    path, noun = _owner(collection)
    answer = api().call("GET", f"/{path}/{segment(job_id)}/schedule")

    def table() -> None:
        if not answer["scheduled"]:
            say(f"{noun} {job_id} has no schedule")
            return
        zone = "" if answer.get("timezone", "UTC") == "UTC" else f" in {answer['timezone']}"
        say(f"{answer['expression']}{zone} ({answer['type']}):")
        for fire in _fires(answer):
            say(f"  {fire}")

    local = answer.get("next_fires_local") or answer["next_fires"]
    emit(answer, current(output), table, list(zip(local, answer["next_fires"], strict=True)))


# ---------------------------------------------------------------------- local stack
@local_app.command("up")
def local_up(
    workdir: Annotated[Path | None, typer.Option(metavar="DIR", help="where the outbox goes")] = None,
) -> None:
    """Run the local stack in the foreground; the other commands find it until it stops (Ctrl-C)."""
    from syncjobs_cli.local import serve

    serve(workdir, Console(highlight=False))


from syncjobs_cli import collections_cli  # noqa: E402, F401 - adds `collections` and `approvals` to `app`
from syncjobs_cli import local as local_cli  # noqa: E402, F401 - adds `local upload` and `local secret`


def run_cli() -> None:
    try:
        app()
    except CliError as problem:
        print_error(problem.message)
        sys.exit(problem.code)
