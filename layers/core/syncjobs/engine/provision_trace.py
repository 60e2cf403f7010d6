"""Provision on demand, as steps an admin reads: what the engine did with one entity (Entra's "Provision on
demand"). Pure: workflows/provision.py runs the entity through the engine (engine.shard.process_shard) and
hands what it saw here; nothing in a step is a credential (no header is kept, and secret-like attributes of
a body are redacted)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from syncjobs.engine.diff import entity_hash
from syncjobs.engine.outcome_log import LogLine
from syncjobs.models.outcome import Outcome
from syncjobs.models.state import EntityState

OUT_OF_SCOPE = "out of scope"  # engine.shard's reason for an entity its scope filter leaves out
REDACTED = "<redacted>"
_SECRET_WORDS = ("password", "secret", "token", "authorization", "credential")


class ProvisionStep(BaseModel):
    """One step of a provision: what it is, what happened (a sentence), and its data."""

    step: str = Field(description="read, scope, mapping, state, diff, target or outcome")
    summary: str
    detail: dict[str, Any] | None = None


class Provisioned(BaseModel):
    """What provisioning one entity did, step by step, and the small run that recorded it."""

    job_id: str
    entity_type: str
    entity_id: str
    run_id: str
    run_status: str = Field(description="the recording run's final status")
    outcome: Outcome
    reason: str = ""
    target_id: str = ""
    steps: list[ProvisionStep]


@dataclass(frozen=True)
class Exchange:
    """One HTTP call to the target, without its headers (so without its credentials)."""

    method: str
    path: str
    status: int
    request: Any = None
    response: Any = None


@dataclass(frozen=True)
class Observed:
    """What the engine did with the entity: the record's row, the scope filter, the stored state it read,
    the log line it ended with, and the calls the target saw."""

    job_id: str
    entity_type: str
    entity_id: str
    run_id: str
    run_status: str
    row: int
    scope: str | None
    stored: EntityState | None
    outcome: Outcome
    line: LogLine
    exchanges: list[Exchange] = field(default_factory=list)
    unreadable: bool = False  # the source row could not be read (its error is the line's reason)


def redacted(value: Any) -> Any:
    """`value` with every attribute whose name says it is a secret replaced (at any depth)."""
    if isinstance(value, dict):
        return {
            k: REDACTED if any(w in str(k).lower() for w in _SECRET_WORDS) else redacted(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


def _scope_step(seen: Observed) -> ProvisionStep:
    reason = seen.line.reason
    if seen.scope is None:
        return ProvisionStep(step="scope", summary="in scope: the job has no scope filter for " + seen.entity_type)
    detail = {"filter": seen.scope}
    if seen.outcome is Outcome.SKIPPED and reason == OUT_OF_SCOPE:
        return ProvisionStep(step="scope", summary=f"out of scope: the filter {seen.scope} is false", detail=detail)
    if reason.startswith("scope filter failed"):
        return ProvisionStep(step="scope", summary=reason, detail=detail)
    return ProvisionStep(step="scope", summary=f"in scope: the filter {seen.scope} is true", detail=detail)


def _state_step(stored: EntityState | None) -> ProvisionStep:
    if stored is None:
        return ProvisionStep(step="state", summary="no stored state: this job has not provisioned it yet")
    detail = {
        "target_id": stored.target_id,
        "hash": stored.hash,
        "run_id": stored.run_id,
        "outcome": stored.outcome,
    }
    return ProvisionStep(
        step="state",
        summary=f"provisioned as {stored.target_id} by run {stored.run_id} ({stored.outcome or 'no outcome'})",
        detail=detail,
    )


def _diff_step(stored: EntityState | None, content: dict[str, Any]) -> ProvisionStep:
    new_hash = entity_hash(content)
    detail = {"stored_hash": stored.hash if stored else None, "new_hash": new_hash}
    if stored is None:
        return ProvisionStep(step="diff", summary="new: nothing stored to compare with (create)", detail=detail)
    if stored.hash == new_hash:
        return ProvisionStep(step="diff", summary="unchanged since the last write (skip)", detail=detail)
    return ProvisionStep(step="diff", summary="changed since the last write (update)", detail=detail)


def _target_step(exchanges: list[Exchange]) -> ProvisionStep:
    if not exchanges:
        return ProvisionStep(step="target", summary="no call to the target")
    calls = [
        {
            "method": x.method,
            "path": x.path,
            "status": x.status,
            "request": redacted(x.request),
            "response": redacted(x.response),
        }
        for x in exchanges
    ]
    said = ", ".join(f"{x.method} {x.path} -> {x.status}" for x in exchanges)
    return ProvisionStep(step="target", summary=said, detail={"calls": calls})


def provision_steps(seen: Observed) -> list[ProvisionStep]:
    """The steps shown for one provisioned entity, in the order the engine took them; a step the entity
    did not reach (out of scope, a mapping that failed) is not shown."""
    line = seen.line
    read = f"read {seen.entity_type} {seen.entity_id} (row {seen.row})"
    if seen.unreadable:
        return [
            ProvisionStep(step="read", summary=f"{read}: the row could not be read: {line.reason}"),
            ProvisionStep(step="outcome", summary=f"{seen.outcome.value}: {line.reason}"),
        ]
    steps = [ProvisionStep(step="read", summary=read)]
    scope = _scope_step(seen)
    steps.append(scope)
    if line.content is not None:
        steps.append(
            ProvisionStep(step="mapping", summary="mapped resource", detail={"resource": redacted(line.content)})
        )
        steps.append(_state_step(seen.stored))
        steps.append(_diff_step(seen.stored, line.content))
        steps.append(_target_step(seen.exchanges))
    elif not scope.summary.startswith(("out of scope", "scope filter failed")):
        steps.append(ProvisionStep(step="mapping", summary=line.reason))
    said = f"{seen.outcome.value}" + (f": {line.reason}" if line.reason else "")
    detail = {"target_id": line.target_id or None, "run_id": seen.run_id, "run_status": seen.run_status}
    steps.append(ProvisionStep(step="outcome", summary=said, detail=detail))
    return steps


def provisioned(seen: Observed) -> Provisioned:
    return Provisioned(
        job_id=seen.job_id,
        entity_type=seen.entity_type,
        entity_id=seen.entity_id,
        run_id=seen.run_id,
        run_status=seen.run_status,
        outcome=seen.outcome,
        reason=seen.line.reason,
        target_id=seen.line.target_id,
        steps=provision_steps(seen),
    )
