"""Render mails with jinja2: HTML (autoescaped) and plain text, from templates a deployer can override.

Set MAIL_TEMPLATES_DIR to a folder holding any of mail.html.j2 / mail.txt.j2 to override them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    select_autoescape,
)

from syncjobs.models.approval import Approval
from syncjobs.models.collection import CollectionRun
from syncjobs.models.notification import HeldMail
from syncjobs.models.outcome import OUTCOMES
from syncjobs.models.run import Run, RunType
from syncjobs.notify.rules import MailKind
from syncjobs.notify.words import named_counts, named_counts_by_type, plural

SUBJECT_TAG = "[syncjobs]"  # one tag for every mail: a mail filter's hook
SUBJECTS = {  # SAP's titles, heading each mail's body
    MailKind.RUNNING_WITH_ERROR: "Provisioning Running with Error",
    MailKind.FINISHED_WITH_ERROR: "Provisioning Finished with Error",
    MailKind.SUCCESS: "Provisioning Success",
    MailKind.DELETES_HELD: "Provisioning Deletes Held Back",
    MailKind.QUARANTINED: "Provisioning Job Quarantined",
}
SHORT_TITLES = {kind: title.removeprefix("Provisioning ") for kind, title in SUBJECTS.items()}  # in subjects
LINK_LABELS = {  # SAP's wording
    "created": "Download created entities logs",
    "updated": "Download updated entities logs",
    "failed": "Download error logs",
    "skipped": "Download skipped entities logs",
    "deleted": "Download deleted entities logs",
}
VALIDATE_LINK_LABELS = {  # a validate run's skipped log lists the valid entities, its failed log the invalid
    **LINK_LABELS,
    "skipped": "Download valid entities logs",
    "failed": "Download invalid entities logs",
}


def link_labels(run: Run) -> dict[str, str]:
    return VALIDATE_LINK_LABELS if run.run_type is RunType.VALIDATE else LINK_LABELS


STATUS_LABELS = {
    "queued": "Queued",
    "running": "Running",
    "stopping": "Stopping",
    "stopped": "Manually Terminated",
    "succeeded": "Success",
    "finished_with_errors": "Finished with Error",
    "failed": "Failed",
    "skipped": "Skipped",
}


@dataclass(frozen=True)
class Link:
    outcome: str
    count: int
    url: str
    file_name: str


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


@cache
def _environment(override_dir: str | None) -> Environment:
    loaders: list[BaseLoader] = [FileSystemLoader(override_dir)] if override_dir else []
    loaders.append(PackageLoader("syncjobs.notify", "templates"))
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(["html", "html.j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["plural"] = plural  # {{ n | plural("delete") }} -> "1 delete", "2 deletes"
    return env


def one_line(value: str, limit: int = 200) -> str:
    """Header-safe text: no line breaks or control characters, bounded length."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in value)
    return " ".join(cleaned.split())[:limit]


def short_source(name: str) -> str:
    """A source system's name for a subject: an export's location shortened to its file name
    (s3://bucket/exports/hr.csv -> hr.csv); a named source keeps its name."""
    if name.startswith("s3://"):
        return name.rstrip("/").rsplit("/", 1)[-1] or name
    return name


def stopped_by(run: Run) -> str:
    """Who stopped a stopped run, for its mail: the admin API records the caller's principal."""
    return run.stop_requested_by or "an admin"


def mail_title(kind: MailKind, run: Run) -> str:
    """The body's heading: SAP's title, except that a stopped run says who stopped it and when."""
    if kind is MailKind.FINISHED_WITH_ERROR and run.status.value == "stopped":
        at = run.stop_requested_at or run.ended_at
        return f"Provisioning Stopped by {stopped_by(run)}" + (f" at {at:%Y-%m-%d %H:%M} UTC" if at else "")
    return SUBJECTS[kind]


def subject(kind: MailKind, run: Run) -> str:
    """`[syncjobs] <job> (<source> → <target>): <what happened>`: the job's name first, so that two
    jobs reading one export send different subjects, and a mail client groups a job's mails."""
    what = f"Stopped by {stopped_by(run)}" if mail_title(kind, run) != SUBJECTS[kind] else SHORT_TITLES[kind]
    systems = " → ".join(n for n in (short_source(run.source_name), run.target_name) if n)
    job = run.job_name or run.job_id
    what = one_line(what, 120)
    # long names are cut, never what happened
    return one_line(f"{SUBJECT_TAG} {job}{f' ({systems})' if systems else ''}", 300 - len(what) - 2) + f": {what}"


@dataclass(frozen=True)
class AllowLink:
    """A "Deletes Held Back" mail's link that allows exactly the held deletes (an approval request)."""

    url: str
    request_id: str
    expires_at: str


def render(
    kind: MailKind,
    run: Run,
    links: list[Link],
    details_url: str | None,
    links_expire_at: str,
    why: str = "",
    held: list[HeldMail] | None = None,
    allow: AllowLink | None = None,
    unsubscribe_url: str | None = None,
) -> RenderedMail:
    """`why`: the rule that sent this mail; `held`: mails the daily cap held back since the last one;
    `allow`: the recipient's link to allow the deletes the threshold held back; `unsubscribe_url`:
    the recipient's link out of the job's mails."""
    env = _environment(os.environ.get("MAIL_TEMPLATES_DIR") or None)
    context = {
        "kind": kind.value,
        "title": mail_title(kind, run),
        "run": run,
        "status_label": STATUS_LABELS[run.status.value],
        "totals": named_counts(run.run_type.value, run.totals_by_name()),
        "by_type": named_counts_by_type(run.run_type.value, run.counts) if len(run.counts) > 1 else {},
        "links": links,
        "link_labels": link_labels(run),
        "details_url": details_url,
        "links_expire_at": links_expire_at,
        "why": why,
        "allow": allow,
        "unsubscribe_url": unsubscribe_url,
        "held": [
            {
                "title": SUBJECTS.get(MailKind(h.kind), h.kind),
                "run_id": h.run_id,
                "status": STATUS_LABELS.get(h.status, h.status),
                "at": h.at[:16].replace("T", " ") + " UTC",
            }
            for h in held or []
        ],
    }
    return RenderedMail(
        subject=subject(kind, run),
        text=env.get_template("mail.txt.j2").render(context),
        html=env.get_template("mail.html.j2").render(context),
    )


def render_run_page(run: Run, notes: list[Any], links: dict[str, str], links_expire_at: str | None = None) -> str:
    """The run's details page (HTML, autoescaped): what SAP calls Job Execution Details."""
    env = _environment(os.environ.get("MAIL_TEMPLATES_DIR") or None)
    return env.get_template("run.html.j2").render(
        run=run,
        status_label=STATUS_LABELS[run.status.value],
        counts=named_counts_by_type(run.run_type.value, run.counts),
        notes=notes,
        links=links,
        link_labels=link_labels(run),
        links_expire_at=links_expire_at,
    )


COLLECTION_TITLES = {
    "succeeded": "Job Collection Success",
    "finished_with_errors": "Job Collection Finished with Error",
    "failed": "Job Collection Failed",
    "stopped": "Job Collection Stopped",
}


@dataclass(frozen=True)
class StepLine:
    job_id: str
    on_failure: str
    label: str
    reason: str | None
    totals: dict[str, int]
    details: str | None  # a link to the step run's page


def render_collection(
    crun: CollectionRun, steps: list[StepLine], links_expire_at: str | None, why: str = ""
) -> RenderedMail:
    """The mail about a finished collection run (Netwrix: one notification for the whole collection)."""
    env = _environment(os.environ.get("MAIL_TEMPLATES_DIR") or None)
    title = COLLECTION_TITLES.get(crun.status.value, "Job Collection")
    context = {
        "title": title,
        "crun": crun,
        "status_label": STATUS_LABELS[crun.status.value],
        "steps": steps,
        "totals": {o.value: crun.totals().get(o.value, 0) for o in OUTCOMES},
        "links_expire_at": links_expire_at,
        "why": why,
    }
    return RenderedMail(
        subject=one_line(f"{SUBJECT_TAG} {crun.name or crun.collection_id} (collection): {title}", 300),
        text=env.get_template("collection.txt.j2").render(context),
        html=env.get_template("collection.html.j2").render(context),
    )


def render_approval(
    approval: Approval, links: list[Link], details_url: str | None, approve_url: str, reject_url: str
) -> RenderedMail:
    """The mail asking an approver to approve or reject a run, with its preview."""
    env = _environment(os.environ.get("MAIL_TEMPLATES_DIR") or None)
    title = "Approval Needed"
    context = {
        "title": title,
        "approval": approval,
        "preview_label": STATUS_LABELS.get(approval.preview_status or "", approval.preview_status or "-"),
        "totals": {o.value: approval.preview_totals.get(o.value, 0) for o in OUTCOMES},
        "links": links,
        "link_labels": LINK_LABELS,
        "details_url": details_url,
        "approve_url": approve_url,
        "reject_url": reject_url,
    }
    what = f"{approval.run_type.value} of {approval.subject_kind} {approval.subject_id}"
    return RenderedMail(
        subject=one_line(f"{SUBJECT_TAG} {approval.name or approval.subject_id}: {title} ({what})", 300),
        text=env.get_template("approval.txt.j2").render(context),
        html=env.get_template("approval.html.j2").render(context),
    )


def render_decision_page(approval: Approval, approve: bool, done: bool, who: str | None) -> str:
    """What an approve/reject link opens: the request and a button (GET), or the decision (POST)."""
    env = _environment(os.environ.get("MAIL_TEMPLATES_DIR") or None)
    action = "Approve" if approve else "Reject"
    heading = f"{approval.status.value.capitalize()}" if done else f"{action} this request?"
    return env.get_template("decision.html.j2").render(
        heading=heading, approval=approval, approve=approve, done=done, who=who or "an approver"
    )


def render_unsubscribe_page(job_id: str, email: str, done: bool) -> str:
    """What an unsubscribe link opens: the question and a button (GET), or that it is done (POST)."""
    env = _environment(os.environ.get("MAIL_TEMPLATES_DIR") or None)
    heading = "Unsubscribed" if done else "Unsubscribe?"
    return env.get_template("unsubscribe.html.j2").render(heading=heading, job_id=job_id, email=email, done=done)
