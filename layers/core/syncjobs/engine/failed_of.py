"""A run of only the failed entities of an earlier run (`syncjobs run JOB --failed-of RUN`).

Which ids it processes come from the earlier run's failed log (its entity type and entity id columns,
CSV or JSON Lines). The new run keeps them in S3 (`ids_key`), one object whatever their number, so
that neither the run's item nor a shard message grows with them; each shard reads its range of the
source as usual and lets through only those ids, before scope and mapping, so that nothing else is
counted, logged or written. Such a run reads part of the source: it never deletes and never moves
the delta watermarks (ReadMode.FAILED_OF).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator

from syncjobs.connectors.base import SourceRecord, SourceRowError
from syncjobs.engine.outcome_log import original_cell
from syncjobs.models.outcome import Outcome
from syncjobs.models.run import Run

FailedIds = dict[str, list[str]]  # entity type -> ids, in the order the log lists them


def ids_key(run_id: str) -> str:
    """Where a failed-of run keeps the ids it processes: with its shard plans (store/objects.plan_key),
    written by start_run and read by each shard."""
    return f"runs/{run_id}/plan/failed-of-ids.json"


def refusal(earlier: Run, job_id: str) -> tuple[str, str] | None:
    """Why `earlier` cannot be retried by a run of job `job_id`, or None: ("conflict" | "invalid", why)."""
    if earlier.job_id != job_id:
        return "invalid", f"failed_of: run {earlier.run_id} is a run of job {earlier.job_id}, not of {job_id}"
    if not earlier.status.is_final:
        return (
            "conflict",
            f"failed_of: run {earlier.run_id} is still {earlier.status.value}; retry it when it has ended",
        )
    if earlier.totals()[Outcome.FAILED] == 0:
        return "conflict", f"failed_of: run {earlier.run_id} has no failed entities"
    if Outcome.FAILED.value not in earlier.log_keys:
        return (
            "conflict",
            f"failed_of: run {earlier.run_id} kept no failed log (its failed trace is off), so its ids are unknown",
        )
    return None


def failed_ids(log: bytes, fmt: str) -> FailedIds:
    """The ids a failed log lists, per entity type, each once. Lines without an id (a source row that
    could not be read, with no id to know it by) cannot be asked for again and are left out."""
    ids: dict[str, dict[str, None]] = {}
    for entity_type, entity_id in _lines(log.decode("utf-8"), fmt):
        entity_id = original_cell(entity_id)
        if entity_id:
            ids.setdefault(original_cell(entity_type), {})[entity_id] = None
    return {entity_type: list(of_type) for entity_type, of_type in ids.items()}


def _lines(text: str, fmt: str) -> Iterator[tuple[str, str]]:
    if fmt == "jsonl":
        for line in text.splitlines():
            if line.strip():
                record = json.loads(line)
                yield str(record.get("entity_type", "")), str(record.get("entity_id", ""))
        return
    for row in csv.DictReader(io.StringIO(text)):
        yield row.get("entity_type") or "", row.get("entity_id") or ""


NOT_IN_SOURCE = "not in the source any more: nothing to retry"


def not_in_source(wanted: FailedIds, read: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(entity type, id) of each wanted id the run's complete read did not meet (`read`: per type, the
    ids read, in scope or not). Counted skipped with NOT_IN_SOURCE: there is nothing left to retry, and
    a later full read deletes what the job had provisioned of it."""
    return [(t, entity_id) for t, ids in wanted.items() for entity_id in ids if entity_id not in read.get(t, set())]


def dump(ids: FailedIds) -> bytes:
    return json.dumps(ids, ensure_ascii=False).encode()


def load(body: bytes) -> FailedIds:
    return {str(k): [str(x) for x in v] for k, v in json.loads(body).items()}


def only(
    records: Iterable[SourceRecord | SourceRowError], ids: Iterable[str]
) -> Iterator[SourceRecord | SourceRowError]:
    """The records of `ids` (and the unreadable rows known to be one of them); nothing else."""
    wanted = frozenset(ids)
    for record in records:
        if record.entity_id in wanted and (isinstance(record, SourceRecord) or record.id_known):
            yield record
