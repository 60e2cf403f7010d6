"""Outcome log lines: CSV (safe to open in Excel) or JSON Lines.

Formula injection: a cell starting with = + - @ (or a tab/CR) is prefixed with a single quote, as
OWASP recommends, so a spreadsheet shows it as text instead of running it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any, NamedTuple

from syncjobs.models.job import TraceLevel

COLUMNS = ("entity_type", "entity_id", "target_id", "row", "reason", "content")
# SAP cuts traced content at 150,000 characters.
CONTENT_LIMIT = 150_000
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class LogLine(NamedTuple):
    """One entity's line in an outcome log. A named tuple, not a frozen dataclass: there is a line per
    entity, and a frozen dataclass sets each field through object.__setattr__ (a third of the line's
    cost was that); a tuple is built in one step, is as immutable, and compares field by field."""

    entity_type: str
    entity_id: str
    target_id: str
    row: int | None
    reason: str
    content: dict[str, Any] | None = None


def safe_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def original_cell(cell: str) -> str:
    """A cell as it was before `safe_cell` guarded it against formulas (a log read back)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_STARTS) else cell


def _content(line: LogLine, trace: TraceLevel) -> str:
    if trace is not TraceLevel.CONTENT or line.content is None:
        return ""
    text = json.dumps(line.content, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= CONTENT_LIMIT else text[:CONTENT_LIMIT] + "...[cut]"


def header(fmt: str) -> bytes:
    if fmt == "jsonl":
        return b""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(COLUMNS)
    return buffer.getvalue().encode()


def encode(lines: Iterable[LogLine], trace: TraceLevel, fmt: str) -> bytes:
    """The lines one outcome log part holds (no header), as the trace level allows."""
    if trace is TraceLevel.OFF:
        return b""
    buffer = io.StringIO()
    if fmt == "jsonl":
        for line in lines:
            record = {
                "entity_type": line.entity_type,
                "entity_id": line.entity_id,
                "target_id": line.target_id,
                "row": line.row,
                "reason": line.reason,
            }
            if content := _content(line, trace):
                record["content"] = content
            buffer.write(json.dumps(record, ensure_ascii=False) + "\n")
        return buffer.getvalue().encode()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for line in lines:
        writer.writerow(
            [
                safe_cell(line.entity_type),
                safe_cell(line.entity_id),
                safe_cell(line.target_id),
                "" if line.row is None else str(line.row),
                safe_cell(line.reason),
                safe_cell(_content(line, trace)),
            ]
        )
    return buffer.getvalue().encode()
