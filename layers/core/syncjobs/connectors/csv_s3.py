"""CSV exports in S3 as a source of users (and of groups, from a second file).

Planning streams the object once and cuts it at record boundaries (quote-aware, so a quoted field
may hold line breaks), so every shard is an exact byte range of whole records and knows the row
number of its first record. Reading a shard fetches only its range.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from syncjobs.connectors.base import SourceRecord, SourceRowError
from syncjobs.models.job import CsvS3Source
from syncjobs.models.outcome import EntityType
from syncjobs.models.run import ShardSpec

_BOM = b"\xef\xbb\xbf"


class ByteRanges(Protocol):
    def iter_range(
        self, bucket: str, key: str, start: int, end: int | None = None, chunk_size: int = ...
    ) -> Iterator[bytes]: ...


class CsvSourceError(ValueError):
    """The export as a whole is unusable (no header, id column missing, ...)."""


def record_ends(chunks: Iterable[bytes]) -> Iterator[int]:
    """Byte offsets just past each CSV record (its line break), honouring quoted line breaks."""
    offset = 0
    in_quotes = False
    for chunk in chunks:
        start = 0
        while True:
            newline = chunk.find(b"\n", start)
            if newline < 0:
                in_quotes ^= bool(chunk.count(b'"', start) & 1)
                break
            in_quotes ^= bool(chunk.count(b'"', start, newline) & 1)
            if not in_quotes:
                yield offset + newline + 1
            start = newline + 1
        offset += len(chunk)
    yield offset  # end of object (a last record without a line break, or nothing)


def _records(chunks: Iterable[bytes]) -> Iterator[tuple[int, int, bytes]]:
    """(start, end, bytes) of each record, as the chunks stream by (only one record is held whole)."""
    buffer = bytearray()
    base = 0  # offset of buffer[0] in the object
    start = 0

    def streamed() -> Iterator[bytes]:
        for chunk in chunks:
            buffer.extend(chunk)
            yield chunk

    for end in record_ends(streamed()):
        if end == start:
            continue
        yield start, end, bytes(buffer[start - base : end - base])
        del buffer[: end - base]
        base, start = end, end


HEADER_LIMIT = 1 << 20  # bytes read to find the header row: no header is longer


def _long_field(raw: bytes, delimiter: str) -> str:
    """Which header field passes csv's field size limit: its position and start (split naively: a field
    that long is what matters, not its quotes)."""
    cells = raw.decode("utf-8", errors="replace").split(delimiter)
    longest = max(range(len(cells)), key=lambda i: len(cells[i]))
    start = cells[longest].strip().strip('"')[:20]
    return f"field {longest + 1} ({start!r}...) has {len(cells[longest])} characters"


def _parse_header(raw: bytes, delimiter: str) -> list[str]:
    """The header's column names. CsvSourceError naming the problem when it cannot be read: CR-only
    line ends (csv sees a line break inside a field), a field past csv's field size limit, bad UTF-8."""
    text = raw.removeprefix(_BOM).decode("utf-8", errors="strict")
    if "\r" in text.rstrip("\r\n"):
        raise CsvSourceError(
            "the header row holds a bare CR: the export's line ends are CR only (classic Mac); "
            "save it with LF or CRLF line ends"
        )
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter, strict=True))
    except csv.Error as err:
        if "field larger than field limit" in str(err):
            raise CsvSourceError(
                f"a header field is larger than the CSV field size limit ({csv.field_size_limit()} characters): "
                + _long_field(raw, delimiter)
            ) from None
        raise CsvSourceError(f"the header row is not valid CSV ({err})") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise CsvSourceError("the CSV has no header row")
    return [cell.strip() for cell in rows[0]]


@dataclass(frozen=True, slots=True)
class CsvFile:
    """The file of one entity type and the columns that matter to the engine."""

    key: str
    id_column: str
    modified_column: str | None
    members_column: str | None = None
    members_separator: str = ";"

    @classmethod
    def of(cls, config: CsvS3Source, entity_type: EntityType) -> CsvFile:
        if entity_type is EntityType.GROUPS:
            if config.groups is None:
                raise CsvSourceError("source.groups: the job reads groups but names no groups file")
            g = config.groups
            return cls(g.key, g.id_column, g.modified_column, g.members_column, g.members_separator)
        return cls(config.key, config.id_column, config.modified_column)


class CsvS3SourceConnector:
    def __init__(self, config: CsvS3Source, objects: ByteRanges, entity_type: EntityType = EntityType.USERS) -> None:
        self.config = config
        self.file = CsvFile.of(config, entity_type)
        self.entity_type = entity_type
        self.name = f"s3://{config.bucket}/{self.file.key}"
        self._objects = objects
        self._read: tuple[int, int, bytes] | None = None  # (start, end, bytes) of the range read last

    def close(self) -> None:
        """Nothing to release: each read is its own ranged GET."""

    def plan(self, shard_size: int) -> list[ShardSpec]:
        """Shards of `shard_size` records. Reading every id on the way, it also marks each row whose
        id an earlier row already has, so that id is written once, by its first row, whatever shard
        the rows land in (two shards writing one entity at once would race)."""
        header: list[str] | None = None
        id_index = 0
        shards: list[ShardSpec] = []
        shard_start, shard_end, first_row, records_in_shard, row = 0, 0, 2, 0, 0
        first_rows: dict[str, int] = {}
        duplicates: dict[int, int] = {}
        for start, end, record in _records(self._objects.iter_range(self.config.bucket, self.file.key, 0)):
            row += 1
            if header is None:
                header = self._read_header(start, end)
                id_index = header.index(self.file.id_column)
                shard_start = shard_end = end
                continue
            if record.strip(b"\r\n"):
                entity_id = self._id_of(record, id_index)
                if entity_id:
                    if entity_id in first_rows:
                        duplicates[row] = first_rows[entity_id]
                    else:
                        first_rows[entity_id] = row
            records_in_shard += 1
            shard_end = end
            if records_in_shard == shard_size:
                shards.append(self._shard(len(shards), shard_start, end, first_row, header, duplicates))
                shard_start, first_row, records_in_shard, duplicates = end, row + 1, 0, {}
        if header is None:
            raise CsvSourceError(f"{self.name} is empty: it has no header row")
        if records_in_shard:
            shards.append(self._shard(len(shards), shard_start, shard_end, first_row, header, duplicates))
        return shards

    def _id_of(self, record: bytes, id_index: int) -> str:
        try:
            cells = next(csv.reader(io.StringIO(record.decode("utf-8")), delimiter=self.config.delimiter))
        except (UnicodeDecodeError, csv.Error, StopIteration):
            return ""  # the reader fails this row with the reason
        return cells[id_index].strip() if len(cells) > id_index else ""

    def header(self) -> list[str]:
        """The export's column names, from its first HEADER_LIMIT bytes only (a preflight check: an
        export whose header cannot be read fails the run before anything is planned). NotFound when
        the object is missing; CsvSourceError naming the problem when its header is unusable."""
        raw = b"".join(self._objects.iter_range(self.config.bucket, self.file.key, 0, HEADER_LIMIT))
        if not raw.strip():
            raise CsvSourceError(f"{self.name} is empty: it has no header row")
        end = next(record_ends([raw]))
        if end == len(raw) == HEADER_LIMIT and b"\r" not in raw:
            raise CsvSourceError(
                f"{self.name}: no line break in the first {HEADER_LIMIT} bytes: the header row is too long "
                "or opens a quote it never closes"
            )
        return self._parsed_header(raw[:end])

    def _parsed_header(self, raw: bytes) -> list[str]:
        try:
            return _parse_header(raw, self.config.delimiter)
        except UnicodeDecodeError as err:
            raise CsvSourceError(f"{self.name}: the header row is not valid UTF-8 ({err.reason})") from None
        except CsvSourceError as err:
            raise CsvSourceError(f"{self.name}: {err}") from None

    def _read_header(self, start: int, end: int) -> list[str]:
        raw = b"".join(self._objects.iter_range(self.config.bucket, self.file.key, start, end))
        header = self._parsed_header(raw)
        if self.file.id_column not in header:
            raise CsvSourceError(
                f"{self.name}: id_column {self.file.id_column!r} is not in the header ({', '.join(header)})"
            )
        for column in (self.file.modified_column, self.file.members_column):
            if column is not None and column not in header:
                raise CsvSourceError(f"{self.name}: column {column!r} is not in the header ({', '.join(header)})")
        if len(set(header)) != len(header):
            raise CsvSourceError(f"{self.name}: the header names a column twice ({', '.join(header)})")
        return header

    def _shard(
        self, index: int, start: int, end: int, first_row: int, header: list[str], duplicates: dict[int, int]
    ) -> ShardSpec:
        return ShardSpec(
            shard_id=f"{index:05d}",
            entity_type=self.entity_type,
            start=start,
            end=end,
            first_row=first_row,
            header=header,
            duplicates=duplicates,
        )

    def read(self, shard: ShardSpec, since: str | None = None) -> Iterator[SourceRecord | SourceRowError]:
        """`since` is not used: a CSV export cannot be asked for changed rows only (the engine filters)."""
        raw = self._range(shard)
        header = shard.header
        id_index = header.index(self.file.id_column)
        row = shard.first_row - 1
        for _, _, record in _records([raw]):
            row += 1
            if not record.strip(b"\r\n"):
                continue
            parsed = self._record(row, record, header, id_index)
            if row in shard.duplicates and isinstance(parsed, SourceRecord):
                reason = f"duplicate id: row {shard.duplicates[row]} has the same id"
                yield SourceRowError(row, parsed.entity_id, reason, id_known=True)
                continue
            yield parsed

    def rest(self, shard: ShardSpec, last_row: int, last_id: str | None = None) -> ShardSpec:
        """The byte range after row `last_row`, found by going over the shard's records again (the
        bytes are the same: the export is read by range, never rewritten under a run)."""
        raw = self._range(shard)
        row = shard.first_row - 1
        for _, end, _ in _records([raw]):
            row += 1
            if row == last_row:
                return shard.model_copy(
                    update={
                        "start": shard.start + end,
                        "first_row": row + 1,
                        "duplicates": {r: first for r, first in shard.duplicates.items() if r > row},
                    }
                )
        raise CsvSourceError(f"{self.name}: shard {shard.shard_id} has no row {last_row}")

    def _range(self, shard: ShardSpec) -> bytes:
        """The shard's bytes; read once per connector (a cut shard's `rest` goes over them again at the
        end of an invocation, when there is no time for another GET)."""
        if self._read is None or self._read[:2] != (shard.start, shard.end):
            raw = b"".join(self._objects.iter_range(self.config.bucket, self.file.key, shard.start, shard.end))
            self._read = (shard.start, shard.end, raw)
        return self._read[2]

    def _record(self, row: int, record: bytes, header: list[str], id_index: int) -> SourceRecord | SourceRowError:
        if len(record) > self.config.max_row_bytes:
            return SourceRowError(
                row, f"row {row}", f"row is {len(record)} bytes, more than max_row_bytes {self.config.max_row_bytes}"
            )
        try:
            text = record.decode("utf-8")
        except UnicodeDecodeError as err:
            return SourceRowError(row, f"row {row}", f"row is not valid UTF-8 (byte {err.start})")
        try:
            cells = next(csv.reader(io.StringIO(text), delimiter=self.config.delimiter, strict=True))
        except (csv.Error, StopIteration) as err:
            return SourceRowError(row, f"row {row}", f"row is not valid CSV ({err})")
        if len(cells) != len(header):
            entity = cells[id_index].strip() if len(cells) > id_index else ""
            reason = f"row has {len(cells)} fields, the header has {len(header)}"
            return SourceRowError(row, entity or f"row {row}", reason, id_known=bool(entity))
        entity_id = cells[id_index].strip()
        if not entity_id:
            return SourceRowError(row, f"row {row}", f"missing id: column {self.file.id_column!r} is empty")
        attributes = dict(zip(header, cells, strict=True))
        modified = attributes.get(self.file.modified_column) if self.file.modified_column else None
        members = None
        if self.file.members_column is not None:
            listed = attributes[self.file.members_column].split(self.file.members_separator)
            members = tuple(dict.fromkeys(m.strip() for m in listed if m.strip()))
        return SourceRecord(row, entity_id, attributes, modified, members)
