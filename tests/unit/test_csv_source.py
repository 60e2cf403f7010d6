"""CSV in S3: record boundaries (quote-aware), exact shards, hostile rows failing with a reason."""

import csv
import io
from collections.abc import Iterator

import pytest

from syncjobs.connectors.base import SourceRecord, SourceRowError
from syncjobs.connectors.csv_s3 import CsvS3SourceConnector, CsvSourceError, record_ends
from syncjobs.models.job import CsvS3Source
from syncjobs.models.outcome import EntityType


class Bytes:
    """An S3 object in memory, read in small chunks to exercise chunk edges."""

    def __init__(self, data: bytes, chunk: int = 7) -> None:
        self.data, self.chunk = data, chunk

    def iter_range(
        self, bucket: str, key: str, start: int, end: int | None = None, chunk_size: int = 1 << 20
    ) -> Iterator[bytes]:
        body = self.data[start:end]
        for i in range(0, len(body), self.chunk):
            yield body[i : i + self.chunk]


def source(data: bytes, chunk: int = 7, **kw) -> CsvS3SourceConnector:
    config = CsvS3Source(type="csv_s3", bucket="bkt", key="k.csv", id_column="id", **kw)
    return CsvS3SourceConnector(config, Bytes(data, chunk))


def read_all(src: CsvS3SourceConnector, shard_size: int) -> list[SourceRecord | SourceRowError]:
    return [r for shard in src.plan(shard_size) for r in src.read(shard)]


def test_given_quoted_line_breaks_then_records_end_only_outside_quotes():
    data = b'a,b\n1,"x\ny"\n2,z\n'
    assert list(record_ends([data[:5], data[5:]])) == [4, 12, 16, 16]


@pytest.mark.parametrize("shard_size", [1, 2, 3, 10])
def test_given_any_shard_size_then_every_row_is_read_once_in_order(shard_size):
    data = b"id,name\n" + b"".join(f"{i},n{i}\n".encode() for i in range(1, 8))
    records = read_all(source(data), shard_size)
    assert [r.entity_id for r in records] == [str(i) for i in range(1, 8)]
    assert [r.row for r in records] == list(range(2, 9))


def test_given_a_bom_and_no_final_newline_then_header_and_last_row_are_read():
    records = read_all(source(b"\xef\xbb\xbfid,name\r\n1,a\r\n2,b"), 1)
    assert [(r.entity_id, r.attributes["name"]) for r in records] == [("1", "a"), ("2", "b")]


def test_given_hostile_rows_then_each_fails_alone_with_its_reason():
    data = (
        b"id,name\n1,ok\n,no id\n3,bad \xff utf8\n4,too,many\n5," + b"x" * 300 + b'\n6,"=HYPERLINK(""http://evil"")"\n'
    )
    records = read_all(source(data, max_row_bytes=256), 2)
    reasons = {r.row: r.reason for r in records if isinstance(r, SourceRowError)}
    assert reasons == {
        3: "line 3: missing id: column 'id' is empty",
        4: "line 4: row is not valid UTF-8 (byte 6)",
        5: "line 5: row has 3 fields, the header has 2",
        6: "line 6: row is 303 bytes, more than max_row_bytes 256",
    }
    ok = [r for r in records if isinstance(r, SourceRecord)]
    assert [r.entity_id for r in ok] == ["1", "6"]
    assert ok[1].attributes["name"] == '=HYPERLINK("http://evil")'


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "has no header row"),
        (b"name,mail\n1,a\n", "id_column 'id' is not in the header"),
        (b"id,id\n1,2\n", "names a column twice"),
    ],
)
def test_given_an_unusable_export_then_planning_fails_with_the_reason(data, message):
    with pytest.raises(CsvSourceError, match=message):
        source(data).plan(10)


def test_given_only_a_header_then_there_are_no_shards():
    assert source(b"id,name\n").plan(10) == []


@pytest.mark.parametrize("shard_size", [1, 2, 10])
def test_given_a_duplicate_id_in_another_shard_then_only_its_first_row_counts(shard_size):
    data = b"id,name\n1,a\n2,b\n\n1,c\n3,d\n"
    records = read_all(source(data), shard_size)
    errors = [r for r in records if isinstance(r, SourceRowError)]
    assert [(e.row, e.entity_id, e.reason, e.id_known) for e in errors] == [
        (5, "1", "duplicate id: row 2 has the same id", True)
    ]
    assert [r.entity_id for r in records if isinstance(r, SourceRecord)] == ["1", "2", "3"]


def with_groups_file() -> CsvS3Source:
    groups = {"key": "groups.csv", "id_column": "gid", "members_column": "members"}
    return CsvS3Source(type="csv_s3", bucket="bkt", key="users.csv", id_column="id", groups=groups)


def test_given_a_groups_file_then_each_group_lists_its_member_ids_once():
    # Given a groups export whose members column separates user ids with ";", with blanks and a repeat
    data = b"gid,name,members\nG1,Finance,E1; E2;;E1\nG2,Empty,\n"
    config = with_groups_file()
    # When it is read as the groups source
    src = CsvS3SourceConnector(config, Bytes(data), EntityType.GROUPS)
    shards = src.plan(10)
    records = [r for shard in shards for r in src.read(shard)]
    # Then the shards say they hold groups, and the members are the distinct, trimmed ids in order
    assert {s.entity_type for s in shards} == {EntityType.GROUPS}
    assert src.name == "s3://bkt/groups.csv"
    assert [(r.entity_id, r.members) for r in records if isinstance(r, SourceRecord)] == [
        ("G1", ("E1", "E2")),
        ("G2", ()),
    ]


def test_given_a_members_column_missing_from_the_header_then_planning_names_it():
    config = with_groups_file()
    src = CsvS3SourceConnector(config, Bytes(b"gid,name\nG1,x\n"), EntityType.GROUPS)
    with pytest.raises(CsvSourceError, match="column 'members' is not in the header"):
        src.plan(10)


# Record boundaries: where csv.reader itself ends a record, whatever the chunks.

BOUNDARIES = {  # an export, cut into its records
    "a quote inside an unquoted field opens nothing": [b"id,t\n", b"1,Engineer 6'2\"\n", b"2,x\n", b'3,Lead "Ops\n'],
    "a quoted line break": [b"id,t\n", b'1,"x\ny"\n', b"2,z\n"],
    "doubled quotes and a line break inside a quoted field": [b"id,t\n", b'1,"say ""hi""\n""there"""\n', b"2,z\n"],
    "empty quoted fields": [b"id,t\n", b'1,""\n', b'"",""""\n'],
    "a quote at the start of a field opens it up to a later row": [b"id,t\n", b'1,"Ops\n2,x\n3,Lead "Ops\n'],
    "text after a closing quote": [b"id,t\n", b'1,"Big" Boss\n', b"2,z\n"],
    "mixed CRLF and LF line ends": [b"id,t\r\n", b'1,"a\r\nb"\r\n', b"2,z\n", b"3,y\r\n"],
    "a BOM before a quoted header": [b'\xef\xbb\xbf"id","t"\n', b'1,"x\ny"\n'],
    "a quote right after a multi-byte delimiter": ["id§t\n".encode(), '1§"x\ny"\n'.encode(), "2§z\n".encode()],
    "a last record without a line break, in quotes": [b"id,t\n", b'1,"x\ny"'],
}


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 64])
@pytest.mark.parametrize("case", BOUNDARIES)
def test_given_any_chunking_then_records_end_where_csv_ends_them(case, chunk):
    expected = BOUNDARIES[case]
    data = b"".join(expected)
    delimiter = "§" if "multi-byte" in case else ","
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    ends = list(record_ends(chunks, delimiter))
    records = [data[start:end] for start, end in zip([0, *ends], ends, strict=False) if end > start]
    assert records == expected
    # and each record is exactly one of the rows csv.reader reads from the whole export
    rows = [next(csv.reader(io.StringIO(r.decode()), delimiter=delimiter)) for r in records]
    text = data.decode().removeprefix("\ufeff")
    assert rows[1:] == list(csv.reader(io.StringIO(text), delimiter=delimiter))[1:]


# Detections: each misquoted row fails naming its line and column; swallowed records stop deletes.


def errors_of(records):
    return [(r.row, r.entity_id, r.reason, r.id_known) for r in records if isinstance(r, SourceRowError)]


def twenty(rows: dict[int, bytes]) -> bytes:
    """A 20-user export (header line 1, user i on line i + 1) with some rows replaced."""
    lines = [b"id,name,title\n"] + [rows.get(i, b"E%d,n%d,Engineer\n" % (i, i)) for i in range(1, 21)]
    return b"".join(lines)


@pytest.mark.parametrize("chunk", [1, 4, 7, 1 << 20])
@pytest.mark.parametrize("shard_size", [1, 3, 20])
def test_given_quotes_inside_unquoted_fields_then_only_those_rows_fail_and_their_ids_count_as_seen(chunk, shard_size):
    # Given a stray quote in row 5's title and another ten rows later (unquoted fields)
    data = twenty({5: b"E5,n5,Engineer 6'2\"\n", 15: b'E15,n15,Lead "Ops\n'})
    # When the export is read
    records = read_all(source(data, chunk), shard_size)
    # Then both rows fail, naming their line and column, with their ids known: the read stays complete
    errors = errors_of(records)
    assert [(row, entity, known) for row, entity, _, known in errors] == [(6, "E5", True), (16, "E15", True)]
    assert errors[0][2].startswith("line 6, column 'title': a quote inside an unquoted field (not RFC 4180")
    assert errors[1][2].startswith("line 16, column 'title': a quote inside an unquoted field")
    # And every other row is read, none swallowed
    read = [r.entity_id for r in records if isinstance(r, SourceRecord)]
    assert read == [f"E{i}" for i in range(1, 21) if i not in (5, 15)]


@pytest.mark.parametrize("chunk", [1, 3, 7, 1 << 20])
@pytest.mark.parametrize("shard_size", [1, 4, 20])
def test_given_a_stray_quote_at_a_field_start_then_the_records_it_swallows_make_the_read_incomplete(chunk, shard_size):
    # Given a quote opened at the start of row 5's title and closed by a stray quote in row 15
    data = twenty({5: b'E5,n5,"Ops\n', 15: b'E15,n15,Lead "Ops\n'})
    # When the export is read
    records = read_all(source(data, chunk), shard_size)
    # Then lines 6-16 are one failed record whose id is not known (so no deletes), its reason naming them
    (error,) = errors_of(records)
    assert error[1] == "row 6"
    assert error[3] is False
    assert error[2].startswith(
        "lines 6-16: a quoted field opened in column 'title' on line 6 closes on line 16 and holds 10 line(s) "
        "that read as whole records of this export"
    )
    # And the rows after it are read, their lines numbered as in the file
    read = [r.entity_id for r in records if isinstance(r, SourceRecord)]
    assert read == [f"E{i}" for i in [1, 2, 3, 4, 16, 17, 18, 19, 20]]


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        (
            {5: b'E5,n5,"Big\n', 6: b"E6,n6,Engineer 6'2\"\n"},
            "lines 6-7: a quoted field opened in column 'title' on line 6 closes on line 7 and holds 1 line(s)",
        ),
        (
            {19: b'E19,n19,"Ops\n'},
            "lines 20-21: a quoted field opened in column 'title' on line 20 never closes (the export ends in it) "
            "and holds 1 line(s)",
        ),
        (
            {5: b'E5,n5,"Big\n', 6: b'E6,"n6",Lead "Ops\n'},
            "lines 6-7: a quoted field opened in column 'title' on line 6 closes on line 7 and holds 1 line(s)",
        ),
    ],
    ids=["closed-in-the-next-row", "never-closed", "closed-with-text-after-the-quote"],
)
def test_given_a_quote_opened_in_one_row_and_closed_in_the_next_then_both_lines_are_named(rows, reason):
    errors = errors_of(read_all(source(twenty(rows)), 5))
    assert len(errors) == 1
    assert errors[0][2].startswith(reason)
    assert errors[0][3] is False


@pytest.mark.parametrize("chunk", [1, 2, 5, 1 << 20])
@pytest.mark.parametrize("shard_size", [1, 2, 10])
def test_given_legit_quoted_multi_line_fields_then_every_row_is_read_and_lines_are_counted(chunk, shard_size):
    # Given quoted addresses over two and three lines (CRLF inside one), "" escapes and a bad last row
    data = (
        b"id,address,title\n"
        b'1,"12 Main St\nSpringfield",Engineer\n'
        b'2,"Flat 3, ""The Mews""\r\n4 High St\r\nLeeds, UK","Engineer 6\'2"""\r\n'
        b"3,,Analyst\n"
        b"4,too,many,fields\n"
    )
    records = read_all(source(data, chunk), shard_size)
    ok = [(r.entity_id, r.attributes["address"], r.attributes["title"]) for r in records if isinstance(r, SourceRecord)]
    assert ok == [
        ("1", "12 Main St\nSpringfield", "Engineer"),
        ("2", 'Flat 3, "The Mews"\r\n4 High St\r\nLeeds, UK', "Engineer 6'2\""),
        ("3", "", "Analyst"),
    ]
    # the bad row is the 4th record but on physical line 8
    assert errors_of(records) == [(5, "4", "line 8: row has 4 fields, the header has 3", True)]


def test_given_a_continuation_after_a_multi_line_record_then_its_lines_are_still_physical_lines():
    # Given a shard whose first record spans lines 2-3, cut after that record
    src = source(b'id,address\n1,"12 Main St\nSpringfield"\n2,ok\n3,a"b\n')
    (shard,) = src.plan(10)
    rest = src.rest(shard, last_row=2)
    # Then the continuation starts at row 3, on line 4, and names line 5 for the misquoted row 4
    assert (rest.first_row, rest.first_line) == (3, 4)
    records = list(src.read(rest))
    assert [r.entity_id for r in records] == ["2", "3"]
    assert records[1].reason.startswith("line 5, column 'address': a quote inside an unquoted field")


def test_given_mixed_line_ends_and_a_bom_then_values_hold_no_line_end_characters():
    data = b'\xef\xbb\xbf"id","name"\r\n1,a\n2,"b"\r\n\r\n3,c'
    records = read_all(source(data, 2), 2)
    assert [(r.entity_id, r.attributes["name"]) for r in records] == [("1", "a"), ("2", "b"), ("3", "c")]


def test_given_cr_only_line_ends_then_planning_refuses_the_header():
    with pytest.raises(CsvSourceError, match="line ends are CR only"):
        source(b"id,name\r1,a\r2,b\r").plan(10)
