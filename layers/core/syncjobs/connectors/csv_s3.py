"""CSV exports in S3 as a source of users.

Planning streams the object once and cuts it at record boundaries (quote-aware, so a quoted field
may hold line breaks), so every shard is an exact byte range of whole records and knows the row
number of its first record. Reading a shard fetches only its range.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Protocol

from syncjobs.connectors.base import SourceRecord, SourceRowError
from syncjobs.models.job import CsvS3Source
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


def _parse_header(raw: bytes, delimiter: str) -> list[str]:
    text = raw.removeprefix(_BOM).decode("utf-8", errors="strict")
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise CsvSourceError("the CSV has no header row")
    return [cell.strip() for cell in rows[0]]


class CsvS3SourceConnector:
    def __init__(self, config: CsvS3Source, objects: ByteRanges) -> None:
        self.config = config
        self.name = f"s3://{config.bucket}/{config.key}"
        self._objects = objects

    def plan(self, shard_size: int) -> list[ShardSpec]:
        chunks = self._objects.iter_range(self.config.bucket, self.config.key, 0)
        header: list[str] | None = None
        shards: list[ShardSpec] = []
        previous = 0
        shard_start = 0
        records_in_shard = 0
        first_row = 2
        row = 0
        for end in record_ends(chunks):
            if end == previous:
                continue
            row += 1
            if header is None:
                header = self._read_header(previous, end)
                shard_start = end
                previous = end
                continue
            records_in_shard += 1
            if records_in_shard == shard_size:
                shards.append(self._shard(len(shards), shard_start, end, first_row, header))
                shard_start, first_row, records_in_shard = end, row + 1, 0
            previous = end
        if header is None:
            raise CsvSourceError(f"{self.name} is empty: it has no header row")
        if records_in_shard:
            shards.append(self._shard(len(shards), shard_start, previous, first_row, header))
        return shards

    def _read_header(self, start: int, end: int) -> list[str]:
        raw = b"".join(self._objects.iter_range(self.config.bucket, self.config.key, start, end))
        try:
            header = _parse_header(raw, self.config.delimiter)
        except UnicodeDecodeError as err:
            raise CsvSourceError(f"{self.name}: the header row is not valid UTF-8 ({err.reason})") from None
        if self.config.id_column not in header:
            raise CsvSourceError(
                f"{self.name}: id_column {self.config.id_column!r} is not in the header ({', '.join(header)})"
            )
        if len(set(header)) != len(header):
            raise CsvSourceError(f"{self.name}: the header names a column twice ({', '.join(header)})")
        return header

    @staticmethod
    def _shard(index: int, start: int, end: int, first_row: int, header: list[str]) -> ShardSpec:
        return ShardSpec(shard_id=f"{index:05d}", start=start, end=end, first_row=first_row, header=header)

    def read(self, shard: ShardSpec) -> Iterator[SourceRecord | SourceRowError]:
        raw = b"".join(self._objects.iter_range(self.config.bucket, self.config.key, shard.start, shard.end))
        header = shard.header
        id_index = header.index(self.config.id_column)
        row = shard.first_row - 1
        previous = 0
        for end in record_ends([raw]):
            record = raw[previous:end]
            previous = end
            if not record.strip(b"\r\n"):
                continue
            row += 1
            yield self._record(row, record, header, id_index)

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
            return SourceRowError(row, f"row {row}", f"missing id: column {self.config.id_column!r} is empty")
        attributes = dict(zip(header, cells, strict=True))
        modified = attributes.get(self.config.modified_column) if self.config.modified_column else None
        return SourceRecord(row, entity_id, attributes, modified)
