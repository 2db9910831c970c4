"""Reading CSV records from a binary stream, with the lines each one spans, in bounded memory.

A line longer than the ``csv`` field limit is skipped in chunks and its record yielded as unreadable (with
the rest of an open quoted field), so one broken record costs one bad row, not the file or the memory.
Bytes that are not UTF-8 survive as lone surrogates (``surrogateescape``) for :func:`check_utf8` to report.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from kafkapipeline.streams.base import InvalidRecord

#: Bytes read at a time while skipping the rest of a line that is too long.
SKIP_CHUNK_BYTES = 64 * 1024


def max_line_bytes() -> int:
    """The longest line read (terminator included): the ``csv`` module's field limit, in bytes."""
    return csv.field_size_limit()


@dataclass(frozen=True)
class Overlong:
    """Lines skipped for their length since the last record: the first one, its size, how many."""

    line: int
    size: int
    count: int
    limit: int

    def reason(self) -> str:
        more = f" (and {self.count - 1} more such lines)" if self.count > 1 else ""
        return (
            f"line {self.line} is {self.size} bytes, longer than the limit of {self.limit} bytes "
            f"(the CSV field limit); it was skipped{more}"
        )


class LineReader:
    """The lines of a binary stream as text, none longer than ``max_bytes``.

    A longer line is cut, its rest skipped in chunks and an empty line put in its place; :meth:`take_overlong`
    tells the record reader. A leading UTF-8 byte-order mark is dropped.
    """

    def __init__(self, stream: BinaryIO, max_bytes: int | None = None) -> None:
        self._stream = stream
        self.max_bytes = max_bytes or max_line_bytes()
        if self.max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {self.max_bytes}")
        self.line = 0
        self._overlong: Overlong | None = None
        self._quotes = 0  # quote characters since the current record began

    def __iter__(self) -> LineReader:
        return self

    def __next__(self) -> str:
        raw = self._stream.readline(self.max_bytes + 1)
        if not raw:
            raise StopIteration
        self.line += 1
        if len(raw) > self.max_bytes:
            return self._skip_rest(raw)
        self._quotes += raw.count(b'"')
        text = raw.decode("utf-8", "surrogateescape")
        return text.removeprefix("\ufeff") if self.line == 1 else text

    def _skip_rest(self, head: bytes) -> str:
        size = len(head)
        chunk = head
        self._quotes += head.count(b'"')
        while not chunk.endswith(b"\n"):
            chunk = self._stream.readline(SKIP_CHUNK_BYTES)
            if not chunk:
                break
            size += len(chunk)
            self._quotes += chunk.count(b'"')
        pending = self._overlong
        if pending is None:
            self._overlong = Overlong(self.line, size, 1, self.max_bytes)
        else:
            self._overlong = Overlong(pending.line, pending.size, pending.count + 1, self.max_bytes)
        return "\n"

    def start_record(self) -> None:
        """The ``csv`` reader is about to read a new record (it starts at a line boundary)."""
        self._quotes = 0

    def skip_open_quote(self) -> None:
        """After an unreadable record: skip the lines up to the one that closes its open quotes."""
        while self._quotes % 2:
            try:
                next(self)
            except StopIteration:
                break
        self._overlong = None

    def take_overlong(self) -> Overlong | None:
        """The lines skipped since the last call (the ``csv`` reader reads no line ahead of its record)."""
        found, self._overlong = self._overlong, None
        return found


def decoded_lines(stream: BinaryIO, max_bytes: int | None = None) -> LineReader:
    """The lines of a binary stream as text, each at most ``max_bytes`` (see :class:`LineReader`)."""
    return LineReader(stream, max_bytes)


@dataclass(frozen=True)
class CsvRecord:
    """One CSV record: its fields (None when the CSV itself could not be parsed) and its lines."""

    line: int
    end_line: int
    fields: list[str] | None
    error: str | None = None


def csv_records(lines: Iterable[str]) -> Iterator[CsvRecord]:
    """Parse ``lines`` as CSV, yielding every record with the first and last line it spans.

    A record the ``csv`` module rejects (a field over the field limit, for one), or one that spans
    a line :class:`LineReader` skipped for its length, is yielded with its error and parsing goes on
    with the next line, so one broken record does not end the file.
    """
    source = lines if isinstance(lines, LineReader) else None
    reader = csv.reader(lines)

    def lines_read() -> int:
        return source.line if source is not None else reader.line_num

    while True:
        start = lines_read() + 1
        if source is not None:
            source.start_record()
        error: str | None = None
        try:
            fields: list[str] | None = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            fields, error = None, f"unreadable CSV: {err}"
        overlong = source.take_overlong() if source is not None else None
        if overlong is not None:
            fields, error = None, overlong.reason()
        if error is not None and source is not None:
            source.skip_open_quote()
        yield CsvRecord(start, max(start, lines_read()), fields, error)
        if error is not None and lines_read() < start:  # no progress: nothing more can be read
            return


def check_utf8(fields: Sequence[str]) -> None:
    for position, value in enumerate(fields, start=1):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            raise InvalidRecord(
                f"field {position} is not valid UTF-8 (byte at position {err.start})"
            ) from None
