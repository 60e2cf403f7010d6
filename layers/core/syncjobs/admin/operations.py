"""Admin operations: define jobs, subscribe, inspect runs. The API and the CLI both call these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from syncjobs.engine.failed_of import refusal as failed_of_refusal
from syncjobs.engine.provision_trace import Provisioned
from syncjobs.models.errors import describe
from syncjobs.models.events import StartEvent, run_id_of
from syncjobs.models.job import JobDefinition, Subscription
from syncjobs.models.quarantine import Quarantine
from syncjobs.models.run import Run, RunStatus, RunType
from syncjobs.schedules import ScheduleError, parse, zone
from syncjobs.settings import get_settings
from syncjobs.store.collections import CollectionStore
from syncjobs.store.errors import Conflict, NotFound
from syncjobs.store.functions import Functions
from syncjobs.store.index import BadToken
from syncjobs.store.jobs import JobRecord, JobStore
from syncjobs.store.notifications import NotificationRecord, NotificationStore
from syncjobs.store.rules import SchedulerTarget, ScheduleRule, ScheduleRules
from syncjobs.store.runs import RunStore
from syncjobs.workflows.approvals import held_for_approval
from syncjobs.workflows.download_links import presign_briefly
from syncjobs.workflows.preflight import apply_problems


class InvalidInput(ValueError):
    """Input that cannot be accepted; `problems` name each field and what is wrong with it."""

    def __init__(self, what: str, problems: list[str]) -> None:
        super().__init__(f"{what} is invalid:\n  " + "\n  ".join(problems))
        self.problems = problems


Model = TypeVar("Model", bound=BaseModel)


def parse_document(model: type[Model], document: Any, what: str, noun: str) -> Model:
    """A definition (job, collection) from a parsed document; InvalidInput naming each bad field."""
    if not isinstance(document, dict):
        raise InvalidInput(what, [f"(document): must be a mapping of {noun} fields"])
    try:
        return model.model_validate(document)
    except ValidationError as err:
        raise InvalidInput(what, describe(err)) from None


def load_yaml_file(path: Path) -> Any:
    """A YAML file's document; InvalidInput if it is not YAML (OSError if it cannot be read)."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise InvalidInput(str(path), [f"(document): not valid YAML: {err}"]) from None


def parse_job(document: Any, what: str = "job definition") -> JobDefinition:
    return parse_document(JobDefinition, document, what, "job")


def load_job_file(path: Path) -> JobDefinition:
    return parse_job(load_yaml_file(path), str(path))


def apply_job(definition: JobDefinition) -> int:
    """Store the job, unless it cannot run as written (InvalidInput naming each problem: an expression
    that does not compile or uses an unknown filter, a secret missing or outside the prefix, a column
    the readable export lacks). What only a run can see is checked by start_run (workflows/preflight)."""
    problems = apply_problems(definition)
    if problems:
        raise InvalidInput(f"job {definition.job_id}", problems)
    return JobStore().put(definition)


CONTENT_TRACEABLE = ("created", "updated", "skipped", "failed")  # deleted entities never carry content


def trace_next_run(job_id: str, outcomes: list[str]) -> None:
    """Record the mapped attributes (personal data) of these outcomes in the next run's logs only."""
    unknown = [o for o in outcomes if o not in CONTENT_TRACEABLE]
    if unknown or not outcomes:
        problems = [
            f"outcomes: {o!r} cannot be traced with content (one of {', '.join(CONTENT_TRACEABLE)})" for o in unknown
        ] or ["outcomes: name at least one outcome"]
        raise InvalidInput("trace request", problems)
    JobStore().trace_next_run(job_id, sorted(set(outcomes)))


def subscribe(job_id: str, email: str, trigger: str = "default") -> Subscription:
    """Subscribe a person or a distribution list; a second subscribe of the same address changes its trigger."""
    try:
        subscription = Subscription.model_validate({"job_id": job_id, "email": email, "trigger": trigger})
    except ValidationError as err:
        raise InvalidInput("subscription", describe(err)) from None
    JobStore().subscribe(subscription)
    return subscription


def unsubscribe(job_id: str, email: str) -> None:
    JobStore().unsubscribe(job_id, email)


def subscribers(job_id: str) -> list[Subscription]:
    JobStore().get(job_id)  # NotFound for an unknown job
    return JobStore().subscriptions(job_id)


def request_run(
    job_id: str, run_type: str, triggered_by: str, trigger: str, request_id: str, failed_of: str | None = None
) -> Started:
    """Ask for a run of the job now (start_run runs asynchronously); returns the run's id (or, for a
    job that needs approval, the id of the approval request its preview goes to).

    The same `request_id` names the same run: a retried request asks start_run again for that very
    run (start_run ignores a run it has already started), so a request whose invoke failed is not lost.
    `failed_of`: only the failed entities of that earlier run of the job (Conflict when it has not
    ended or failed nothing, InvalidInput when it is another job's)."""
    JobStore().get(job_id)  # NotFound for an unknown job
    if failed_of is not None:
        try:
            earlier = RunStore().get(failed_of).run
        except NotFound:
            raise InvalidInput("run request", [f"failed_of: run {failed_of} not found"]) from None
        refused = failed_of_refusal(earlier, job_id)
        if refused is not None:
            kind, why = refused
            if kind == "conflict":
                raise Conflict(why)
            raise InvalidInput("run request", [why])
    return request_start("job", job_id, run_type, triggered_by, trigger, request_id, failed_of)


@dataclass(frozen=True)
class Started:
    """What a run request became: a run (or collection run), or an approval request previewing it."""

    run_id: str | None
    approval_id: str | None


def request_start(
    kind: str,
    subject_id: str,
    run_type: str,
    triggered_by: str,
    trigger: str,
    request_id: str,
    failed_of: str | None = None,
) -> Started:
    now = datetime.now(UTC)
    key = "collection_id" if kind == "collection" else "job_id"
    document = {key: subject_id, "type": run_type, "trigger": trigger, "triggered_by": triggered_by}
    if failed_of is not None:
        document["failed_of"] = failed_of
    try:
        event = StartEvent.model_validate({**document, "request_id": request_id, "time": now})
    except ValidationError as err:
        raise InvalidInput("run request", describe(err)) from None
    owner = "COLL" if kind == "collection" else "JOB"
    first_asked = JobStore().remember_request(subject_id, request_id, now.isoformat(), now, owner)
    event = event.model_copy(update={"time": datetime.fromisoformat(first_asked)})
    Functions().start_run_async(event.payload())
    request = event.to_request()
    if (approval_id := held_for_approval(request)) is not None:
        return Started(None, approval_id)
    return Started(run_id_of(request), None)


def stop_run(run_id: str, requested_by: str) -> Run:
    """Ask a run to stop: every shard stops within one batch, and the run ends `stopped`."""
    return RunStore().request_stop(run_id, requested_by, datetime.now(UTC)).run


def get_run(run_id: str) -> Run:
    return RunStore().get(run_id).run


def list_runs(
    job_id: str, limit: int = 50, since: datetime | None = None, status: str | None = None, token: str | None = None
) -> tuple[list[Run], str | None]:
    """A page of the job's runs, newest first (filtered by creation time and status), and the next page's token."""
    JobStore().get(job_id)
    problems = []
    if status is not None and status not in {s.value for s in RunStatus}:
        problems.append(f"status: must be one of {', '.join(s.value for s in RunStatus)} (got {status!r})")
    if since is not None:
        try:
            since = since.astimezone(UTC) if since.tzinfo else None
        except OverflowError:  # year 1 east of UTC
            since = None
        if since is None:
            problems.append("since: give a time with its zone (2026-01-31T08:00:00Z)")
    if problems:
        raise InvalidInput("run filter", problems)
    try:
        return RunStore().page_for_job(job_id, limit, since, status, token)
    except BadToken as err:
        raise InvalidInput("run listing", [f"next_token: {err}"]) from None


def run_notifications(run_id: str) -> list[NotificationRecord]:
    return NotificationStore().for_run(run_id)


def _exists(job_id: str, kind: str) -> None:
    """NotFound for an unknown job (or collection)."""
    if kind == "collection":
        CollectionStore().get(job_id)
    else:
        JobStore().get(job_id)


def set_schedule(
    job_id: str, expression: str, run_type: str = "read", kind: str = "job", timezone: str = "UTC"
) -> ScheduleRule:
    """Schedule the job (or collection) with EventBridge Scheduler, its cron read in `timezone` (an IANA
    name); the expression and the zone are checked as Scheduler would first. A rule made before
    Scheduler is replaced (deleted once the schedule exists)."""
    problems = []
    try:
        parse(expression)
    except ScheduleError as err:
        problems.append(f"expression: {err}")
    try:
        zone(timezone)
    except ScheduleError as err:
        problems.append(f"timezone: {err}")
    if run_type not in {t.value for t in RunType}:
        problems.append(f"type: must be one of {', '.join(t.value for t in RunType)} (got {run_type!r})")
    if problems:
        raise InvalidInput("schedule", problems)
    _exists(job_id, kind)
    settings = get_settings()
    target = SchedulerTarget(
        settings.start_run_function, settings.scheduler_role_arn, settings.schedule_dead_letter_queue_arn
    )
    missing = [name for name, value in _SCHEDULER_SETTINGS.items() if not getattr(settings, value)]
    if missing:
        raise InvalidInput("schedule", [f"(deployment): {name} is not set, nothing to schedule" for name in missing])
    rules = ScheduleRules()
    rules.put(job_id, expression, run_type, target, datetime.now(UTC), kind, timezone)
    rule = rules.get(job_id, kind)
    assert rule is not None
    return rule


_SCHEDULER_SETTINGS = {
    "START_RUN_FUNCTION": "start_run_function",
    "SCHEDULER_ROLE_ARN": "scheduler_role_arn",
    "SCHEDULE_DEAD_LETTER_QUEUE_ARN": "schedule_dead_letter_queue_arn",
}


def clear_schedule(job_id: str, kind: str = "job") -> bool:
    _exists(job_id, kind)
    return ScheduleRules().delete(job_id, kind)


def next_fires(job_id: str, count: int = 5, kind: str = "job") -> tuple[ScheduleRule | None, list[datetime]]:
    """The schedule and its next `count` fire times (UTC); (None, []) if there is none."""
    _exists(job_id, kind)
    rule = ScheduleRules().get(job_id, kind)
    if rule is None or not rule.enabled:
        return rule, []
    return rule, parse(rule.expression).next_fires(datetime.now(UTC), count, rule.made_at, rule.timezone)


class JobSummary(BaseModel):
    """A job as `jobs list` / `jobs show` present it (and the admin API sends it)."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    name: str
    version: int
    source: str
    target: str
    entity_types: list[str]
    last_status: str | None
    failure_streak: int
    active_run: str | None
    schedule: str | None
    watermarks: dict[str, str]
    outright_streak: int
    quarantine: Quarantine | None

    @classmethod
    def of(cls, record: JobRecord, rule: ScheduleRule | None) -> JobSummary:
        job = record.definition
        return cls(
            job_id=job.job_id,
            name=job.name,
            version=record.version,
            source=job.source.display_name,
            target=job.target.name,
            entity_types=[t.value for t in job.phases],
            last_status=record.last_status,
            failure_streak=record.failure_streak,
            active_run=record.active_run,
            schedule=rule.expression if rule and rule.enabled else None,
            watermarks=record.watermarks,
            outright_streak=record.outright_streak,
            quarantine=record.quarantine,
        )


def list_jobs() -> list[JobSummary]:
    rules = ScheduleRules()
    return [JobSummary.of(record, rules.get(record.definition.job_id)) for record in JobStore().every_job()]


def show_job(job_id: str) -> tuple[JobSummary, JobDefinition, list[Subscription]]:
    record = JobStore().get(job_id)
    summary = JobSummary.of(record, ScheduleRules().get(job_id))
    return summary, record.definition, JobStore().subscriptions(job_id)


def restart_job(job_id: str, restarted_by: str) -> JobSummary:
    """Clear a job's quarantine, its streak of outright failures and its watermarks (a full read next)."""
    return JobSummary.of(JobStore().restart(job_id, restarted_by, datetime.now(UTC)), ScheduleRules().get(job_id))


def delete_job(job_id: str) -> None:
    """Delete a job, its subscriptions and its schedule; refused (Conflict) while a run is active."""
    JobStore().delete(job_id)
    ScheduleRules().delete(job_id)


def log_url(run_id: str, outcome: str) -> str:
    """A presigned URL of one of a run's logs, for a few minutes (the caller is authenticated)."""
    run = RunStore().get(run_id).run
    key = run.log_keys.get(outcome)
    if key is None:
        known = ", ".join(sorted(run.log_keys)) or "none"
        raise NotFound(f"run {run_id} has no {outcome} log (its logs: {known})")
    return presign_briefly(run, key)


def provision(job_id: str, entity_type: str, entity_id: str, requested_by: str) -> Provisioned:
    """Provision one entity of the job now (in the run_shard function, which holds a run's rights): its
    steps; Conflict while a run holds the job's lock or when its writes need approval, NotFound for an
    unknown job or an id not in its source."""
    JobStore().get(job_id)  # NotFound for an unknown job
    payload = {"job_id": job_id, "entity_type": entity_type, "entity_id": entity_id, "requested_by": requested_by}
    answer = Functions().provision({"provision": payload})
    if "refused" in answer:
        raise Conflict(str(answer["refused"]))
    if "not_found" in answer:
        raise NotFound(str(answer["not_found"]))
    return Provisioned.model_validate(answer["provisioned"])
