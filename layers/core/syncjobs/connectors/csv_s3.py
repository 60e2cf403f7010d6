"""CSV exports in S3 as a source of users (and of groups, from a second file).

Planning streams the object once and cuts it at record boundaries (quote-aware, so a quoted field
may hold line breaks), so every shard is an exact byte range of whole records and knows the row
number of its first record. Reading a shard fetches only its range.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from syncjobs.connectors.base import SourceRecord, SourceRowError
from syncjobs.models.job import CsvS3Source
from syncjobs.models.outcome import EntityType
from syncjobs.models.run import ShardSpec, shard_id

_BOM = b"\xef\xbb\xbf"


class ByteRanges(Protocol):
    def iter_range(
        self, bucket: str, key: str, start: int, end: int | None = None, chunk_size: int = ...
    ) -> Iterator[bytes]: ...


class CsvSourceError(ValueError):
    """The export as a whole is unusable (no header, id column missing, ...)."""


_QUOTE = ord('"')
_LINE_END = b"\r\n"


@dataclass(slots=True)
class _Span:
    """A quoted field that runs over a line break, or to the end of the export. Lines count from the
    record's first (0)."""

    field: int
    first: int
    fields_if_literal: int  # fields of its first line had its opening quote been text (a stray quote's row)
    last: int | None = None  # the line of its closing quote; None: the export ends inside it


@dataclass(frozen=True, slots=True)
class _Misquote:
    """A quote that csv reads as text where RFC 4180 allows none. Lines count from the record's first (0)."""

    line: int
    field: int
    after_close: bool  # text after a quoted field's closing quote (else: a quote inside an unquoted field)


class _Quotes:
    """csv's quoting rules (its default dialect: `""` escapes a quote, no escape character), one physical
    line at a time, so a record ends at the very line break where csv.reader ends it.

    A quote opens a quoted field only at the start of a field (at the start of a record or right after
    the delimiter); inside one, `""` is a quote and a lone `"` closes it. A quote anywhere else is text
    (csv reads `Engineer 6'2"` literally): it opens nothing, so it cannot merge lines. Such quotes, and
    quoted fields that run over line breaks, are noted for the current record (planning ignores the notes).
    """

    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter.encode()
        self._plain = _plain_line(self.delimiter)
        self.in_quotes = False
        self.field = 0  # index of the field being scanned, in the current record
        self.lines = 0  # lines of the current record scanned so far
        self.spans: list[_Span] = []
        self.misquotes: list[_Misquote] = []
        self._open: _Span | None = None
        self._ended = False

    def line(self, buf: bytes | bytearray, start: int, end: int) -> bool:
        """Scan the physical line buf[start:end] (its line break included, if it has one); True when the
        record ends with it."""
        if self._ended:
            self.field, self.lines, self._ended = 0, 0, False
            self.spans, self.misquotes = [], []
        if not self.in_quotes and (buf.find(b'"', start, end) < 0 or self._plain.fullmatch(buf, start, end)):
            self._ended = True  # a whole record, quoted as RFC 4180 asks (the fast way, for most lines)
            return True
        index, delimiter, width = self.lines, self.delimiter, len(self.delimiter)
        self.lines += 1
        pos, field_start = start, not self.in_quotes
        while pos < end:
            quote = buf.find(b'"', pos, end)
            if self.in_quotes:
                if quote < 0:
                    break
                if quote + 1 < end and buf[quote + 1] == _QUOTE:  # "" inside a quoted field: a quote
                    pos = quote + 2
                    continue
                self.in_quotes = False
                self._close(index)
                pos, field_start = quote + 1, False
                if pos < end and buf[pos] not in _LINE_END and not buf.startswith(delimiter, pos):
                    self.misquotes.append(_Misquote(index, self.field, after_close=True))
                continue
            if quote < 0:
                self.field += buf.count(delimiter, pos, end)
                break
            self.field += buf.count(delimiter, pos, quote)
            # at the start of a field: right where scanning resumed, or right after a delimiter
            after_delimiter = quote - width >= pos and buf.startswith(delimiter, quote - width)
            if field_start if quote == pos else after_delimiter:
                self.in_quotes = True
                self._open = _Span(self.field, index, self.field + 1 + buf.count(delimiter, quote + 1, end))
            else:
                self.misquotes.append(_Misquote(index, self.field, after_close=False))
            pos, field_start = quote + 1, False
        self._ended = not self.in_quotes
        return self._ended

    def record(self, record: bytes) -> None:
        """Scan one whole record (then look at its notes)."""
        start = 0
        while (newline := record.find(b"\n", start)) >= 0:
            self.line(record, start, newline + 1)
            start = newline + 1
        if start < len(record):
            self.line(record, start, len(record))
        self.finish()

    def finish(self) -> None:
        """The export ends: a quoted field still open never closes."""
        if self.in_quotes and self._open is not None:
            self.spans.append(self._open)

    def _close(self, line: int) -> None:
        if self._open is not None and self._open.first != line:
            self._open.last = line
            self.spans.append(self._open)
        self._open = None


@functools.lru_cache(maxsize=8)
def _plain_line(delimiter: bytes) -> re.Pattern[bytes]:
    """A whole line of RFC 4180 fields (quoted ones closed on it, with `""` inside), so one record."""
    d = re.escape(delimiter)
    unquoted = b'[^"' + d + b"\n]*" if len(delimiter) == 1 else b"(?:(?!" + d + b')[^"\n])*'
    field = b'(?:"[^"]*(?:""[^"]*)*"|' + unquoted + b")"
    return re.compile(field + b"(?:" + d + field + b")*\r?\n?")


def record_ends(chunks: Iterable[bytes], delimiter: str = ",", at_start: bool = True) -> Iterator[int]:
    """Byte offsets just past each CSV record (its line break), honouring quoted line breaks as csv
    does (see _Quotes). `at_start`: the chunks begin the object, whose UTF-8 BOM is no part of a field."""
    quotes = _Quotes(delimiter)
    pending = bytearray()  # the line not yet ended
    offset = 0  # of pending[0] in the object
    for chunk in chunks:
        pending += chunk
        start = 0
        while (newline := pending.find(b"\n", start)) >= 0:
            first = start
            if at_start:
                at_start = False
                if pending.startswith(_BOM, start):
                    first += len(_BOM)
            if quotes.line(pending, first, newline + 1):
                yield offset + newline + 1
            start = newline + 1
        del pending[:start]
        offset += start
    yield offset + len(pending)  # end of object (a last record without a line break, or nothing)


def _records(chunks: Iterable[bytes], delimiter: str, at_start: bool = False) -> Iterator[tuple[int, int, bytes]]:
    """(start, end, bytes) of each record, as the chunks stream by (only one record is held whole)."""
    buffer = bytearray()
    base = 0  # offset of buffer[0] in the object
    start = 0

    def streamed() -> Iterator[bytes]:
        for chunk in chunks:
            buffer.extend(chunk)
            yield chunk

    for end in record_ends(streamed(), delimiter, at_start):
        if end == start:
            continue
        yield start, end, bytes(buffer[start - base : end - base])
        del buffer[: end - base]
        base, start = end, end


def _lines_named(first: int, last: int) -> str:
    return f"line {first}" if first == last else f"lines {first}-{last}"


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
        line = first_line = 1  # physical line of the next record; of the shard's first record
        first_rows: dict[str, int] = {}
        duplicates: dict[int, int] = {}
        chunks = self._objects.iter_range(self.config.bucket, self.file.key, 0)
        for start, end, record in _records(chunks, self.config.delimiter, at_start=True):
            row += 1
            line += record.count(b"\n")
            if header is None:
                header = self._read_header(start, end)
                id_index = header.index(self.file.id_column)
                shard_start = shard_end = end
                first_line = line
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
                shards.append(self._shard(len(shards), shard_start, end, (first_row, first_line), header, duplicates))
                shard_start, first_row, first_line, records_in_shard, duplicates = end, row + 1, line, 0, {}
        if header is None:
            raise CsvSourceError(f"{self.name} is empty: it has no header row")
        if records_in_shard:
            shards.append(self._shard(len(shards), shard_start, shard_end, (first_row, first_line), header, duplicates))
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
        end = next(record_ends([raw], self.config.delimiter))
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
        self,
        index: int,
        start: int,
        end: int,
        first: tuple[int, int],
        header: list[str],
        duplicates: dict[int, int],
    ) -> ShardSpec:
        """`first`: the row and the physical line of the shard's first record."""
        return ShardSpec(
            shard_id=shard_id(index),
            entity_type=self.entity_type,
            start=start,
            end=end,
            first_row=first[0],
            first_line=first[1],
            header=header,
            duplicates=duplicates,
        )

    def read(self, shard: ShardSpec, since: str | None = None) -> Iterator[SourceRecord | SourceRowError]:
        """`since` is not used: a CSV export cannot be asked for changed rows only (the engine filters)."""
        raw = self._range(shard)
        header = shard.header
        id_index = header.index(self.file.id_column)
        row, line = shard.first_row - 1, _first_line(shard)
        for _, _, record in _records([raw], self.config.delimiter):
            row, record_line = row + 1, line
            line += record.count(b"\n")
            if not record.strip(b"\r\n"):
                continue
            parsed = self._record(row, record_line, record, header, id_index)
            if row in shard.duplicates and isinstance(parsed, SourceRecord):
                reason = f"duplicate id: row {shard.duplicates[row]} has the same id"
                yield SourceRowError(row, parsed.entity_id, reason, id_known=True)
                continue
            yield parsed

    def rest(self, shard: ShardSpec, last_row: int, last_id: str | None = None) -> ShardSpec:
        """The byte range after row `last_row`, found by going over the shard's records again (the
        bytes are the same: the export is read by range, never rewritten under a run)."""
        raw = self._range(shard)
        row, line = shard.first_row - 1, _first_line(shard)
        for _, end, record in _records([raw], self.config.delimiter):
            row += 1
            line += record.count(b"\n")
            if row == last_row:
                return shard.model_copy(
                    update={
                        "start": shard.start + end,
                        "first_row": row + 1,
                        "first_line": line,
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

    def _record(
        self, row: int, line: int, record: bytes, header: list[str], id_index: int
    ) -> SourceRecord | SourceRowError:
        """One record, `line` the physical line it starts on. A record that spans lines and fails in any
        way leaves its id unknown (other records may be inside it), so the read is incomplete."""
        breaks = record.count(b"\n", 0, len(record) - 1)  # line breaks inside the record
        single_line, where = not breaks, _lines_named(line, line + breaks)
        if len(record) > self.config.max_row_bytes:
            reason = f"{where}: row is {len(record)} bytes, more than max_row_bytes {self.config.max_row_bytes}"
            return SourceRowError(row, f"row {row}", reason)
        try:
            text = record.decode("utf-8")
        except UnicodeDecodeError as err:
            return SourceRowError(row, f"row {row}", f"{where}: row is not valid UTF-8 (byte {err.start})")
        quotes = None
        if b'"' in record and not (single_line and _plain_line(self.config.delimiter.encode()).fullmatch(record)):
            quotes = _Quotes(self.config.delimiter)
            quotes.record(record)
        unquoted = _unquoted_fields(text, self.config.delimiter) if quotes is None and single_line else None
        if unquoted is not None:
            rows = [unquoted]
        else:
            try:  # not strict: the quoting faults strict mode raises on are the misquotes, named below
                rows = list(csv.reader(io.StringIO(text), delimiter=self.config.delimiter))
            except csv.Error as err:
                return SourceRowError(row, f"row {row}", f"{where}: row is not valid CSV ({err})")
        if quotes is not None and quotes.spans:
            cells = rows[0] if rows else []
            swallowed = self._swallowed(quotes.spans, text.split("\n"), line, header, cells)
            if swallowed:
                return SourceRowError(row, f"row {row}", f"{where}: {swallowed}")
        if len(rows) != 1:  # never drop text: one record is one csv row
            reason = f"{where}: the record reads as {len(rows)} CSV rows, not one; none of them is read"
            return SourceRowError(row, f"row {row}", reason)
        cells = rows[0]
        entity = cells[id_index].strip() if len(cells) > id_index else ""
        fault = None if quotes is None else _quote_fault(quotes, line, header)
        if fault is not None:
            return SourceRowError(row, entity or f"row {row}", fault, id_known=bool(entity) and single_line)
        if len(cells) != len(header):
            reason = f"{where}: row has {len(cells)} fields, the header has {len(header)}"
            return SourceRowError(row, entity or f"row {row}", reason, id_known=bool(entity) and single_line)
        if not entity:
            return SourceRowError(row, f"row {row}", f"{where}: missing id: column {self.file.id_column!r} is empty")
        attributes = dict(zip(header, cells, strict=True))
        modified = attributes.get(self.file.modified_column) if self.file.modified_column else None
        members = None
        if self.file.members_column is not None:
            listed = attributes[self.file.members_column].split(self.file.members_separator)
            members = tuple(dict.fromkeys(m.strip() for m in listed if m.strip()))
        return SourceRecord(row, entity, attributes, modified, members)

    def _swallowed(
        self, spans: list[_Span], lines: list[str], line: int, header: list[str], cells: list[str]
    ) -> str | None:
        """Why a quoted field over line breaks looks like a stray quote that swallowed whole records of
        this export, or None. A line inside it that reads, alone, as a record (the header's field count)
        gives it away. So does a quote opened at the start of a field in one row and closed in the next:
        the first line reads as a record had its quote been text, and the closing line reads as one
        whose id looks like this record's (E000006 beside E000005; an address line "Leeds, UK" beside
        id 2 does not). With a one-column header every line reads as a record: nothing is judged."""
        fields, id_index = len(header), header.index(self.file.id_column)
        if fields < 2:
            return None
        for span in spans:
            inside = lines[span.first + 1 : span.last] if span.last is not None else lines[span.first + 1 :]
            records = sum(1 for text in inside if len(self._cells_alone(text)) == fields)
            if span.last is not None and span.fields_if_literal == fields:
                closing = self._cells_alone(lines[span.last])
                own_id = cells[id_index] if span.field > id_index and len(cells) > id_index else None
                records += len(closing) == fields and (own_id is None or _shape(closing[id_index]) == _shape(own_id))
            if not records:
                continue
            column = _column(header, span.field)
            closes = (
                f"closes on line {line + span.last}"
                if span.last is not None
                else "never closes (the export ends in it)"
            )
            return (
                f"a quoted field opened in column {column} on line {line + span.first} {closes} and holds "
                f"{records} line(s) that read as whole records of this export: a stray quote at the start of "
                "a field? None of these lines is read, so the read is incomplete and nothing is deleted; "
                "quote the field and double the quotes inside it (RFC 4180)"
            )
        return None

    def _cells_alone(self, text: str) -> list[str]:
        """The fields csv reads in one physical line on its own."""
        try:
            return next(csv.reader([text.rstrip("\r\n")], delimiter=self.config.delimiter), [])
        except csv.Error:
            return []


def _unquoted_fields(text: str, delimiter: str) -> list[str] | None:
    """The fields csv.reader reads in a one-line record, without making a reader for it (most of a
    row's time): when the record has no quote, no CR but its line end's, no NUL and is shorter than
    csv's field size limit, csv reads exactly its text split at the delimiter. None otherwise: csv
    reads it (and says what is wrong with it)."""
    if '"' in text or "\x00" in text or delimiter in _NOT_SPLIT or len(text) > csv.field_size_limit():
        return None
    body = text[:-1] if text.endswith("\n") else text
    body = body[:-1] if body.endswith("\r") else body
    if "\r" in body or "\n" in body:
        return None
    return body.split(delimiter)


_NOT_SPLIT = frozenset({'"', "\r", "\n", "\x00", " "})  # delimiters csv gives a meaning of its own (or may)


def _shape(value: str) -> str:
    """What an id looks like: runs of digits and of letters collapsed (E000006 and E12 are both "A9")."""
    return re.sub(r"[^\W\d_]+", "A", re.sub(r"\d+", "9", value.strip()))


def _first_line(shard: ShardSpec) -> int:
    """The physical line of the shard's first record (shards planned before lines were counted: its row)."""
    return shard.first_line if shard.first_line is not None else shard.first_row


def _column(header: list[str], field: int) -> str:
    return repr(header[field]) if field < len(header) else f"{field + 1} (past the header's {len(header)})"


def _quote_fault(quotes: _Quotes, line: int, header: list[str]) -> str | None:
    """The record's first quote that breaks RFC 4180, with its line and column, or None."""
    faults: list[tuple[int, str]] = []
    for misquote in quotes.misquotes:
        what = (
            "text after the closing quote of a quoted field (not RFC 4180)"
            if misquote.after_close
            else "a quote inside an unquoted field (not RFC 4180; csv reads it as text)"
        )
        faults.append((misquote.line, f"column {_column(header, misquote.field)}: {what}"))
    for span in quotes.spans:
        if span.last is None:
            column = _column(header, span.field)
            faults.append((span.first, f"column {column}: a quoted field opened here never closes"))
    if not faults:
        return None
    at, what = min(faults, key=lambda fault: fault[0])
    more = f" (and {len(faults) - 1} more quote fault(s) in this row)" if len(faults) > 1 else ""
    return (
        f"line {line + at}, {what}{more}: the row may not say what the export means, so it is not provisioned; "
        'quote the whole field and double the quotes inside it (as in "Engineer 6\'2""")'
    )
