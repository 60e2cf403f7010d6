"""`syncjobs collections ...` and `syncjobs approvals ...`."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from syncjobs_cli.api import FAILED_RUN, OK, segment
from syncjobs_cli.main import (
    FINAL,
    RunTypeOption,
    TimeoutOption,
    WaitOption,
    YesOption,
    api,
    app,
    detail_table,
    load_file,
    poll,
    printer,
)
from syncjobs_cli.output import Format, OutputOption, current, emit, label, out, say

collections_app = typer.Typer(
    help="Job collections: jobs run one after another, notified as one.", no_args_is_help=True
)
approvals_app = typer.Typer(
    help="Approval requests of jobs and collections that need approval, and requests to allow held deletes.",
    no_args_is_help=True,
)
_OUTCOMES = ("created", "updated", "deleted", "skipped", "failed")

CollectionArg = Annotated[str, typer.Argument(metavar="COLLECTION", help="the collection's id (collection_id)")]
CollectionRunArg = Annotated[str, typer.Argument(metavar="COLLECTION_RUN", help="the collection run's id")]
ApprovalArg = Annotated[str, typer.Argument(metavar="REQUEST", help="the approval request's id (apr-...)")]


@collections_app.command("apply")
def collections_apply(
    file: Annotated[Path, typer.Option("--file", "-f", metavar="FILE", help="the collection's YAML file")],
    output: OutputOption = None,
) -> None:
    """Create or replace a collection from its YAML file (every step's job must exist)."""
    from syncjobs.admin.collections import load_collection_file

    collection = load_file(load_collection_file, file)
    cid = collection.collection_id
    answer = api().call("PUT", f"/collections/{segment(cid)}", collection.to_document())
    line = f"collection {cid} applied (version {answer['version']})"
    emit(answer, current(output), lambda: say(line), [(cid, answer["version"])])


@collections_app.command("list")
def collections_list(output: OutputOption = None) -> None:
    """Every collection: its steps, schedule, approval and last status."""
    answer = api().call("GET", "/collections")
    rows = [
        (
            c["collection_id"],
            c["name"],
            " -> ".join(c["steps"]),
            c["schedule"] or "-",
            "required" if c["approval_required"] else "-",
            c["last_status"] or "-",
            c["active_run"] or "-",
        )
        for c in answer["collections"]
    ]

    def table() -> None:
        table = Table("collection", "name", "steps", "schedule", "approval", "last status", "active run")
        for row in rows:
            table.add_row(*row)
        out.print(table)

    emit(answer, current(output), table, rows)


@collections_app.command("show")
def collections_show(collection_id: CollectionArg, output: OutputOption = None) -> None:
    """A collection's steps, schedule, approval, mail and state."""
    c = api().call("GET", f"/collections/{segment(collection_id)}")

    def table() -> None:
        rows = [
            ("collection", f"{c['collection_id']} (version {c['version']})"),
            ("name", c["name"]),
            ("steps", " -> ".join(c["steps"])),
            ("schedule", c["schedule"] or "none"),
            ("approval", "required" if c["approval_required"] else "not required"),
            ("mail", f"{', '.join(c['recipients']) or 'nobody'} ({c['trigger']})"),
            ("last status", c["last_status"] or "never ran"),
            ("active run", c["active_run"] or "none"),
        ]
        out.print(detail_table(rows))

    text = [(c["collection_id"], c["version"], c["name"], c["steps"], c["schedule"], c["last_status"], c["active_run"])]
    emit(c, current(output), table, text)


@collections_app.command("delete")
def collections_delete(collection_id: CollectionArg, yes: YesOption = False, output: OutputOption = None) -> None:
    """Delete a collection and its schedule (its runs stay; the jobs stay)."""
    if not yes and not typer.confirm(f"Delete collection {collection_id}?", err=True):
        raise typer.Exit(OK)
    answer = api().call("DELETE", f"/collections/{segment(collection_id)}")
    line = f"collection {collection_id} deleted"
    emit(answer, current(output), lambda: say(line), [(collection_id, "deleted")])


@collections_app.command("run")
def collections_run(
    collection_id: CollectionArg,
    run_type: RunTypeOption = "read",
    wait: WaitOption = False,
    timeout: TimeoutOption = 3600,
    output: OutputOption = None,
) -> None:
    """Run a collection now; with --wait, follow its steps (exit 0 only if it succeeded)."""
    fmt = current(output)
    answer = api().call(
        "POST",
        f"/collections/{segment(collection_id)}/runs",
        {"type": run_type},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    if answer.get("approval_id"):
        line = f"collection {collection_id} needs approval: request {answer['approval_id']}"
        emit(answer, fmt, lambda: say(line), [("APPROVAL", answer["approval_id"])])
        return
    crun_id = answer["collection_run_id"]
    if not wait:

        def started() -> None:
            say(f"collection run {crun_id} started")
            say(f"  follow it: syncjobs collections show-run {crun_id}")

        emit(answer, fmt, started, [(crun_id,)])
        return
    if fmt is Format.TABLE:
        say(f"collection run {crun_id} started")
    show = printer(fmt is Format.TABLE)

    def seen(crun: dict[str, Any]) -> None:
        count = len(crun["steps"])
        show(f"{crun['status']}: step {min(crun['current'] + 1, count or 1)} of {count or '?'}")

    not_yet = {"status": "queued", "current": 0, "steps": []}
    crun = poll(f"/collection-runs/{segment(crun_id)}", not_yet, f"collection run {crun_id}", timeout, seen)
    emit(crun, fmt, lambda: _print_collection_run(crun), _collection_run_rows(crun))
    if crun["status"] != "succeeded":
        raise typer.Exit(FAILED_RUN)


@collections_app.command("stop")
def collections_stop(collection_run_id: CollectionRunArg, output: OutputOption = None) -> None:
    """Stop a collection run: its running step stops, later steps do not run."""
    crun = api().call("POST", f"/collection-runs/{segment(collection_run_id)}/stop")
    line = f"collection run {collection_run_id}: {crun['status']} (step {crun['current'] + 1} is the last)"
    emit(crun, current(output), lambda: say(line), [(collection_run_id, crun["status"])])


@collections_app.command("runs")
def collections_runs(collection_id: CollectionArg, output: OutputOption = None) -> None:
    """A collection's runs, newest first, each with its steps."""
    answer = api().call("GET", f"/collections/{segment(collection_id)}/runs")

    def table() -> None:
        for crun in answer["runs"]:
            _print_collection_run(crun)

    emit(answer, current(output), table, [row for crun in answer["runs"] for row in _collection_run_rows(crun)])


@collections_app.command("show-run")
def collections_show_run(collection_run_id: CollectionRunArg, output: OutputOption = None) -> None:
    """A collection run: its status and each step's job, run and counts."""
    crun = api().call("GET", f"/collection-runs/{segment(collection_run_id)}")
    emit(crun, current(output), lambda: _print_collection_run(crun), _collection_run_rows(crun))


def _step_status(crun: dict[str, Any], i: int, step: dict[str, Any]) -> str:
    if step["status"] == "pending" and i == crun["current"] and crun["status"] not in FINAL:
        return "running"
    return str(step["status"])


def _collection_run_rows(crun: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Text: a line for the collection run, then one per step (STEP, its number, job, status, run, counts)."""
    head = (crun["collection_run_id"], crun["collection_id"], crun["run_type"], crun["status"], crun["trigger"])
    steps = [
        (
            "STEP",
            i + 1,
            step["job_id"],
            step["on_failure"],
            _step_status(crun, i, step),
            step.get("run_id"),
            *((step.get("totals") or {}).get(o, 0) for o in _OUTCOMES),
        )
        for i, step in enumerate(crun["steps"])
    ]
    return [head, *steps]


def _print_collection_run(crun: dict[str, Any]) -> None:
    reason = f": {crun['reason']}" if crun.get("reason") else ""
    out.print(
        label(crun["collection_run_id"]),
        f"{crun['run_type']} {crun['status']}{reason} ({crun['trigger']} by {crun['triggered_by']})",
    )
    table = Table("#", "job", "on failure", "status", "run", *_OUTCOMES)
    for i, step in enumerate(crun["steps"]):
        totals = step.get("totals") or {}
        table.add_row(
            str(i + 1),
            step["job_id"],
            step["on_failure"],
            _step_status(crun, i, step),
            step.get("run_id") or "-",
            *(str(totals.get(o, "")) for o in _OUTCOMES),
        )
    out.print(table)


# ---------------------------------------------------------------------- approvals
@approvals_app.command("list")
def approvals_list(
    status: Annotated[
        str | None,
        typer.Option(metavar="STATUS", help="only requests in this status: previewing, pending, approved, ..."),
    ] = None,
    output: OutputOption = None,
) -> None:
    """Recent approval requests, newest first: what each would run or delete, and who decided."""
    answer = api().call("GET", "/approvals", params={"status": status} if status else None)
    approvals = answer["approvals"]

    def table() -> None:
        table = Table("request", "subject", "type", "status", "preview", "expires", "decided by")
        for a in approvals:
            table.add_row(
                a["approval_id"],
                f"{a['subject_kind']} {a['subject_id']}",
                a["run_type"],
                a["status"],
                _what(a),
                (a["expires_at"] or "-")[:16],
                a["decided_by"] or "-",
            )
        out.print(table)

    rows = [
        (a["approval_id"], a["subject_kind"], a["subject_id"], a["run_type"], a["status"], a["expires_at"], _what(a))
        for a in approvals
    ]
    emit(answer, current(output), table, rows)


def _what(a: dict[str, Any]) -> str:
    """A request's preview counts, or for held deletes: "allow N deletes of run X"."""
    if a["subject_kind"] == "deletes":
        return f"allow {a['preview_totals'].get('held_deletes', 0)} deletes of run {a['preview_id']}"
    return ", ".join(f"{o} {a['preview_totals'].get(o, 0)}" for o in _OUTCOMES) if a["preview_totals"] else "-"


_APPROVAL_FIELDS = (
    "approval_id",
    "subject_kind",
    "subject_id",
    "run_type",
    "status",
    "triggered_by",
    "preview_id",
    "preview_status",
    "preview_totals",
    "approvers",
    "expires_at",
    "decided_by",
    "decided_at",
    "decided_via",
    "run_id",
    "deletes_outcome",
)


@approvals_app.command("show")
def approvals_show(approval_id: ApprovalArg, output: OutputOption = None) -> None:
    """An approval request: what it would do (the preview's counts), its approvers and its decision."""
    a = api().call("GET", f"/approvals/{segment(approval_id)}")

    def table() -> None:
        out.print(detail_table([("request", _what(a)), *((key, str(a.get(key))) for key in _APPROVAL_FIELDS)]))

    emit(a, current(output), table, [(key, a.get(key)) for key in _APPROVAL_FIELDS])


@approvals_app.command("approve")
def approvals_approve(approval_id: ApprovalArg, output: OutputOption = None) -> None:
    """Approve a pending request as yourself: the real run starts (held deletes: exactly those run)."""
    _decide(approval_id, "approve", output)


@approvals_app.command("reject")
def approvals_reject(approval_id: ApprovalArg, output: OutputOption = None) -> None:
    """Reject a pending request as yourself: nothing runs (held deletes stay undone)."""
    _decide(approval_id, "reject", output)


def _decide(approval_id: str, decision: str, output: Format | None) -> None:
    a = api().call("POST", f"/approvals/{segment(approval_id)}/{decision}")
    line = f"approval {approval_id}: {a['status']} by {a['decided_by']}"
    emit(a, current(output), lambda: say(line), [(approval_id, a["status"], a["decided_by"])])


app.add_typer(collections_app, name="collections")
app.add_typer(approvals_app, name="approvals")
