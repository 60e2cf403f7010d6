"""`syncjobs collections ...` and `syncjobs approvals ...`."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from syncjobs_cli.api import FAILED_RUN, OK, segment
from syncjobs_cli.main import FINAL, api, app, load_file, out, poll, printer

collections_app = typer.Typer(
    help="Job collections: jobs run one after another, notified as one.", no_args_is_help=True
)
approvals_app = typer.Typer(
    help="Approval requests of jobs and collections that need approval, and requests to allow held deletes.",
    no_args_is_help=True,
)
_OUTCOMES = ("created", "updated", "deleted", "skipped", "failed")


@collections_app.command("apply")
def collections_apply(file: Annotated[Path, typer.Option("--file", "-f", help="collection YAML file")]) -> None:
    """Create or replace a collection from its YAML file (every step's job must exist)."""
    from syncjobs.admin.collections import load_collection_file

    collection = load_file(load_collection_file, file)
    cid = collection.collection_id
    answer = api().call("PUT", f"/collections/{segment(cid)}", collection.to_document())
    out.print(f"collection {cid} applied (version {answer['version']})")


@collections_app.command("list")
def collections_list() -> None:
    table = Table("collection", "name", "steps", "schedule", "approval", "last status", "active run")
    for c in api().call("GET", "/collections")["collections"]:
        table.add_row(
            c["collection_id"],
            c["name"],
            " -> ".join(c["steps"]),
            c["schedule"] or "-",
            "required" if c["approval_required"] else "-",
            c["last_status"] or "-",
            c["active_run"] or "-",
        )
    out.print(table)


@collections_app.command("show")
def collections_show(collection_id: str) -> None:
    c = api().call("GET", f"/collections/{segment(collection_id)}")
    table = Table(show_header=False, box=None)
    for label, value in (
        ("collection", f"{c['collection_id']} (version {c['version']})"),
        ("name", c["name"]),
        ("steps", " -> ".join(c["steps"])),
        ("schedule", c["schedule"] or "none"),
        ("approval", "required" if c["approval_required"] else "not required"),
        ("mail", f"{', '.join(c['recipients']) or 'nobody'} ({c['trigger']})"),
        ("last status", c["last_status"] or "never ran"),
        ("active run", c["active_run"] or "none"),
    ):
        table.add_row(f"[bold]{label}[/bold]", value)
    out.print(table)


@collections_app.command("delete")
def collections_delete(collection_id: str, yes: Annotated[bool, typer.Option("--yes")] = False) -> None:
    """Delete a collection and its schedule (its runs stay; the jobs stay)."""
    if not yes and not typer.confirm(f"Delete collection {collection_id}?"):
        raise typer.Exit(OK)
    api().call("DELETE", f"/collections/{segment(collection_id)}")
    out.print(f"collection {collection_id} deleted")


@collections_app.command("run")
def collections_run(
    collection_id: str,
    run_type: Annotated[str, typer.Option("--type", help="read, resync, simulate or validate")] = "read",
    wait: Annotated[bool, typer.Option("--wait", help="follow it to its end")] = False,
    timeout: Annotated[float, typer.Option(help="seconds --wait waits at most")] = 3600,
) -> None:
    """Run a collection now; with --wait, follow its steps (exit 0 only if it succeeded)."""
    answer = api().call(
        "POST",
        f"/collections/{segment(collection_id)}/runs",
        {"type": run_type},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    if answer.get("approval_id"):
        out.print(f"collection {collection_id} needs approval: request {answer['approval_id']}")
        return
    crun_id = answer["collection_run_id"]
    out.print(f"collection run {crun_id} started")
    if not wait:
        return
    show = printer()

    def seen(crun: dict[str, Any]) -> None:
        count = len(crun["steps"])
        show(f"{crun['status']}: step {min(crun['current'] + 1, count or 1)} of {count or '?'}")

    not_yet = {"status": "queued", "current": 0, "steps": []}
    crun = poll(f"/collection-runs/{segment(crun_id)}", not_yet, f"collection run {crun_id}", timeout, seen)
    _print_collection_run(crun)
    if crun["status"] != "succeeded":
        raise typer.Exit(FAILED_RUN)


@collections_app.command("stop")
def collections_stop(collection_run_id: str) -> None:
    """Stop a collection run: its running step stops, later steps do not run."""
    crun = api().call("POST", f"/collection-runs/{segment(collection_run_id)}/stop")
    out.print(f"collection run {collection_run_id}: {crun['status']} (step {crun['current'] + 1} is the last)")


@collections_app.command("runs")
def collections_runs(collection_id: str) -> None:
    """A collection's runs, newest first, each with its steps."""
    for crun in api().call("GET", f"/collections/{segment(collection_id)}/runs")["runs"]:
        _print_collection_run(crun)


@collections_app.command("show-run")
def collections_show_run(collection_run_id: str) -> None:
    _print_collection_run(api().call("GET", f"/collection-runs/{segment(collection_run_id)}"))


def _print_collection_run(crun: dict[str, Any]) -> None:
    reason = f": {crun['reason']}" if crun.get("reason") else ""
    out.print(
        f"[bold]{crun['collection_run_id']}[/bold] {crun['run_type']} {crun['status']}{reason} "
        f"({crun['trigger']} by {crun['triggered_by']})"
    )
    table = Table("#", "job", "on failure", "status", "run", *_OUTCOMES)
    for i, step in enumerate(crun["steps"]):
        status = step["status"]
        if status == "pending" and i == crun["current"] and crun["status"] not in FINAL:
            status = "running"
        totals = step.get("totals") or {}
        table.add_row(
            str(i + 1),
            step["job_id"],
            step["on_failure"],
            status,
            step.get("run_id") or "-",
            *(str(totals.get(o, "")) for o in _OUTCOMES),
        )
    out.print(table)


# ---------------------------------------------------------------------- approvals
@approvals_app.command("list")
def approvals_list(status: Annotated[str | None, typer.Option(help="pending, approved, ...")] = None) -> None:
    path = "/approvals" + (f"?status={segment(status)}" if status else "")
    table = Table("request", "subject", "type", "status", "preview", "expires", "decided by")
    for a in api().call("GET", path)["approvals"]:
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


def _what(a: dict[str, Any]) -> str:
    """A request's preview counts, or for held deletes: "allow N deletes of run X"."""
    if a["subject_kind"] == "deletes":
        return f"allow {a['preview_totals'].get('held_deletes', 0)} deletes of run {a['preview_id']}"
    return ", ".join(f"{o} {a['preview_totals'].get(o, 0)}" for o in _OUTCOMES) if a["preview_totals"] else "-"


@approvals_app.command("show")
def approvals_show(approval_id: str) -> None:
    a = api().call("GET", f"/approvals/{segment(approval_id)}")
    out.print(f"[bold]request[/bold]: {_what(a)}")
    for key in (
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
    ):
        out.print(f"[bold]{key}[/bold]: {a.get(key)}")


@approvals_app.command("approve")
def approvals_approve(approval_id: str) -> None:
    """Approve a pending request as yourself: the real run starts (held deletes: exactly those run)."""
    a = api().call("POST", f"/approvals/{segment(approval_id)}/approve")
    out.print(f"approval {approval_id}: {a['status']} by {a['decided_by']}")


@approvals_app.command("reject")
def approvals_reject(approval_id: str) -> None:
    a = api().call("POST", f"/approvals/{segment(approval_id)}/reject")
    out.print(f"approval {approval_id}: {a['status']} by {a['decided_by']}")


app.add_typer(collections_app, name="collections")
app.add_typer(approvals_app, name="approvals")
