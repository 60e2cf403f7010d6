"""Outcome logs: Excel-safe CSV, trace levels, content cut at the limit."""

import csv
import io
import json

import pytest

from syncjobs.engine.outcome_log import CONTENT_LIMIT, LogLine, encode, header, safe_cell
from syncjobs.models.job import TraceLevel


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_given_a_formula_like_cell_then_it_is_neutralised(value):
    assert safe_cell(value) == "'" + value


def test_given_ids_trace_then_lines_hold_ids_and_reason_but_no_content():
    line = LogLine("users", "=cmd|' /C calc'!A0", "t1", 7, "reason", {"userName": "secret"})
    rows = list(csv.reader(io.StringIO((header("csv") + encode([line], TraceLevel.IDS, "csv")).decode())))
    assert rows == [
        ["entity_type", "entity_id", "target_id", "row", "reason", "content"],
        ["users", "'=cmd|' /C calc'!A0", "t1", "7", "reason", ""],
    ]


def test_given_off_trace_then_nothing_is_written():
    assert encode([LogLine("users", "1", "", 2, "")], TraceLevel.OFF, "csv") == b""


def test_given_content_trace_then_content_is_cut_at_the_limit():
    line = LogLine("users", "1", "", 2, "", {"big": "x" * (CONTENT_LIMIT + 10)})
    record = json.loads(encode([line], TraceLevel.CONTENT, "jsonl"))
    assert len(record["content"]) == CONTENT_LIMIT + len("...[cut]")
    assert record["content"].endswith("...[cut]")


def test_a_log_line_is_immutable_compares_by_its_fields_and_has_no_content_unless_given():
    line = LogLine("users", "1", "t1", 2, "unchanged")
    assert line.content is None
    assert line == LogLine("users", "1", "t1", 2, "unchanged", None)
    assert line != LogLine("users", "1", "t1", 3, "unchanged")
    assert (line.entity_type, line.entity_id, line.target_id, line.row, line.reason) == (
        "users",
        "1",
        "t1",
        2,
        "unchanged",
    )
    with pytest.raises(AttributeError):
        line.reason = "changed"  # type: ignore[misc]
