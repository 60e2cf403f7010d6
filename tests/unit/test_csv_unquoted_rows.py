"""CSV in S3: a row without quotes is split at the delimiter instead of going through a csv.reader of
its own; on a dirty export, every record, row number and row error is what the reader gives."""

import csv
import io
import random

import pytest

from syncjobs.connectors import csv_s3
from syncjobs.connectors.csv_s3 import CsvS3SourceConnector, _unquoted_fields
from syncjobs.models.job import CsvS3Source
from syncjobs_local.sample_data import generate
from tests.unit.test_csv_source import Bytes


def read(data: bytes, delimiter: str = ",", max_row_bytes: int = 65536) -> list[tuple]:
    config = CsvS3Source(
        type="csv_s3",
        bucket="bkt",
        key="k.csv",
        id_column="employee_id",
        delimiter=delimiter,
        max_row_bytes=max_row_bytes,
    )
    src = CsvS3SourceConnector(config, Bytes(data))
    return [(type(r).__name__, *(repr(getattr(r, f)) for f in r.__slots__)) for s in src.plan(7) for r in src.read(s)]


HOSTILE = [
    b"X000001,bare\rcr@example.com,A,B,C,D,active,2026-01-01\n",
    b"X000002,nul\x00@example.com,A,B,C,D,active,2026-01-01\n",
    b"X000003,two.crs@example.com,A,B,C,D,active,2026-01-01\r\r\n",
    b"X000004,cr.space@example.com,A,B,C,D,active,2026-01-01\r \n",
    b"X000005,short@example.com,A\n",
    b"X000006,long@example.com,A,B,C,D,active,2026-01-01,extra,extra\n",
    b"X000007,bad.utf8@example.com,Ren\xe9,B,C,D,active,2026-01-01\n",
    b",no.id@example.com,A,B,C,D,active,2026-01-01\n",
    b"   \n",
    b"\n",
    b"\r\n",
    b'X000008,stray"quote@example.com,A,B,C,D,active,2026-01-01\n',
    b'X000009,"quoted@example.com",A,B,C,D,active,2026-01-01\n',
    b'X000010,"multi\nline@example.com",A,B,C,D,active,2026-01-01\n',
    b'"X000011,opened@example.com,A,B,C,D,active,2026-01-01\n',
    b"X000012,huge@example.com," + b"h" * 140_000 + b",B,C,D,active,2026-01-01\n",
    b"X000013,over.max@example.com," + b"m" * 70_000 + b",B,C,D,active,2026-01-01\n",
    b"X000014,tab\tin@example.com,A,B,C,D,active,2026-01-01\n",
    "X000015,unicode\u2028sep@example.com,Zoë,B,C,D,active,2026-01-01\n".encode(),
    b"E000001,duplicate.of.the.first@example.com,A,B,C,D,active,2026-01-01\n",
]


def dirty_export(seed: int, delimiter: bytes = b",") -> bytes:
    rng = random.Random(seed)
    lines = generate(60, seed=seed, bad=True).data.splitlines(keepends=True)
    for row in HOSTILE:
        lines.insert(rng.randrange(1, len(lines) + 1), row)
    data = b"".join(lines)
    if rng.random() < 0.5:
        data = data.rstrip(b"\n")  # a last record without a line break
    return data.replace(b",", delimiter)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("delimiter", [",", ";", "|"])
def test_given_a_dirty_export_when_read_then_split_rows_equal_the_csv_reader_s(monkeypatch, seed, delimiter):
    data = dirty_export(seed, delimiter.encode())
    splits = []

    def counted(text: str, delimiter: str) -> list[str] | None:
        fields = _unquoted_fields(text, delimiter)
        splits.append(fields is not None)
        return fields

    monkeypatch.setattr(csv_s3, "_unquoted_fields", counted)
    split = read(data, delimiter, max_row_bytes=1048576)
    monkeypatch.setattr(csv_s3, "_unquoted_fields", lambda text, delimiter: None)
    assert split == read(data, delimiter, max_row_bytes=1048576)
    assert sum(splits) > 40  # most rows were split, and compared


@pytest.mark.parametrize(
    "text",
    ["a,b,c\n", "a,b,c\r\n", "a,b,c", ",,\n", " a , b \n", "a\tb,c\n", "é,€,😀\n", "a,b\u2028c,\u0085d\n", "x" * 1000],
)
def test_given_a_plain_line_then_its_split_fields_are_the_csv_reader_s(text):
    assert [_unquoted_fields(text, ",")] == list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize(
    "text", ["a,b,c\r\r\n", "a\rb,c\n", "a,b\x00,c\n", 'a,"b",c\n', 'a,b"c\n', "x" * 140_000 + "\n", "a\nb\n"]
)
def test_given_a_line_csv_may_read_otherwise_then_the_csv_reader_reads_it(text):
    assert _unquoted_fields(text, ",") is None
