"""CSV in S3: record boundaries (quote-aware), exact shards, hostile rows failing with a reason."""

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


def source(data: bytes, **kw) -> CsvS3SourceConnector:
    config = CsvS3Source(type="csv_s3", bucket="bkt", key="k.csv", id_column="id", **kw)
    return CsvS3SourceConnector(config, Bytes(data))


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
    data = b"id,name\n1,ok\n,no id\n3,bad \xff utf8\n4,too,many\n5," + b"x" * 300 + b'\n6,=HYPERLINK("http://evil")\n'
    records = read_all(source(data, max_row_bytes=256), 2)
    reasons = {r.row: r.reason for r in records if isinstance(r, SourceRowError)}
    assert reasons == {
        3: "missing id: column 'id' is empty",
        4: "row is not valid UTF-8 (byte 6)",
        5: "row has 3 fields, the header has 2",
        6: "row is 303 bytes, more than max_row_bytes 256",
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
