"""Full and delta reads (SAP's ips.delta.read and ips.full.read.force.count).

- The first read of a job is full; with delta reads on, later reads read only entities modified since
  the watermark of the last successful run, and a full read is forced after `full_read_every` delta
  reads (and repeats until one succeeds, since only a successful full read resets the count).
- Resync, simulate and validate always read everything.
- A delta read never deletes (see engine.deletes).
- A row whose modified time cannot be read is treated as modified: reading it again is safe,
  missing it is not.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from syncjobs.connectors.base import SourceRecord, SourceRowError
from syncjobs.models.job import DeltaSettings
from syncjobs.models.run import ReadMode, RunType


def choose_read_mode(
    run_type: RunType,
    delta: DeltaSettings | None,
    watermarks: dict[str, str],
    delta_reads_since_full: int,
    entity_types: list[str],
) -> tuple[ReadMode, dict[str, str]]:
    """(mode, since): since holds, per entity type, the watermark a delta read filters by.

    Each entity type keeps its own watermark: a users export and a groups export have clocks of
    their own, and one type's newest time would hide the other's changes. An entity type without a
    watermark yet (say, groups just added to the job) makes the read full."""
    if run_type is not RunType.READ or delta is None or not delta.enabled:
        return ReadMode.FULL, {}
    if delta_reads_since_full >= delta.full_read_every or any(t not in watermarks for t in entity_types):
        return ReadMode.FULL, {}
    return ReadMode.DELTA, {t: watermarks[t] for t in entity_types}


def parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class DeltaFilter:
    """Passes the records a read should see and remembers the newest modified time it met."""

    def __init__(self, since: str | None) -> None:
        self._since = parse_time(since) if since else None
        self.newest: datetime | None = None

    def __call__(self, records: Iterable[SourceRecord | SourceRowError]) -> Iterator[SourceRecord | SourceRowError]:
        for record in records:
            modified = parse_time(record.modified) if isinstance(record, SourceRecord) and record.modified else None
            if modified is not None and (self.newest is None or modified > self.newest):
                self.newest = modified
            if self._since is not None and modified is not None and modified <= self._since:
                continue  # unchanged since the last successful run: not part of a delta read
            yield record

    @property
    def watermark(self) -> str | None:
        return self.newest.astimezone(UTC).isoformat() if self.newest else None


def newer(a: str | None, b: str | None) -> str | None:
    times = [(parse_time(x), x) for x in (a, b) if x]
    known = [(t, x) for t, x in times if t is not None]
    return max(known)[1] if known else None
