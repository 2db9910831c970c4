"""Load CSV files into Cassandra: the project's own exports and the original seed files.

:mod:`~kafkapipeline.csvio.lines` reads records, :mod:`~kafkapipeline.csvio.formats` turns them into rows,
and this module writes them in chunks (memory stays constant) and reports; their public names import from
here. Paths are confined to the data root (:mod:`kafkapipeline.csvio.paths`). A row that cannot be read or
validated is a *bad row*: counted, logged with its line numbers and reason, and the file goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cassandra import InvalidRequest

from kafkapipeline import settings
from kafkapipeline.cassandra.replication import write_consistency
from kafkapipeline.cassandra.writer import DEFAULT_CONCURRENCY, ConcurrentRowWriter
from kafkapipeline.csvio.export import schema_hint
from kafkapipeline.csvio.formats import (
    KIND_AUTO,
    KINDS,
    CsvImportError,
    FileFormat,
    file_format,
    table_of,
)
from kafkapipeline.csvio.lines import CsvRecord, check_utf8, csv_records, decoded_lines
from kafkapipeline.csvio.paths import PathOutsideDataRoot, check_opened, confine, data_root
from kafkapipeline.streams.base import InvalidRecord

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 1_000
#: Bad rows listed per file in the summary (XCom); all of them are counted.
MAX_BAD_ROWS_LISTED = 20
#: Bad rows logged per file (one line each); past this only the count is logged.
MAX_BAD_ROWS_LOGGED = 200
MAX_REASON_LENGTH = 300


@dataclass(frozen=True)
class BadRow:
    """A CSV record that did not become a row: where it is (first and last line) and why."""

    line: int
    end_line: int
    reason: str

    @property
    def lines(self) -> str:
        return str(self.line) if self.end_line <= self.line else f"{self.line}-{self.end_line}"

    def as_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "reason": self.reason}


@dataclass
class FileImport:
    """What the import of one file did."""

    path: str
    kind: str
    table: str
    records: int = 0
    rows_written: int = 0
    bad_rows: int = 0
    blank_lines: int = 0
    lines: int = 0
    bad_row_examples: list[BadRow] = field(default_factory=list)

    def add_bad_row(self, bad: BadRow) -> None:
        self.bad_rows += 1
        if len(self.bad_row_examples) < MAX_BAD_ROWS_LISTED:
            self.bad_row_examples.append(bad)
        if self.bad_rows <= MAX_BAD_ROWS_LOGGED:
            log.warning("%s: bad row at line %s: %s", self.path, bad.lines, bad.reason)
        elif self.bad_rows == MAX_BAD_ROWS_LOGGED + 1:
            log.warning("%s: more bad rows; only their count is reported from here on", self.path)

    def describe(self) -> str:
        return (
            f"{self.path} ({self.kind} -> {self.table}): {self.lines} lines, {self.records} valid rows, "
            f"{self.rows_written} written, {self.bad_rows} bad rows, {self.blank_lines} blank lines"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "table": self.table,
            "lines": self.lines,
            "records": self.records,
            "rows_written": self.rows_written,
            "bad_rows": self.bad_rows,
            "blank_lines": self.blank_lines,
            "bad_row_examples": [bad.as_dict() for bad in self.bad_row_examples],
        }


# -- importing ----------------------------------------------------------------------------------

#: What :func:`rows_of` catches as a bad row: validation errors and conversions gone wrong.
ROW_ERRORS = (InvalidRecord, ValueError, TypeError, OverflowError)


def _reason(err: BaseException) -> str:
    text = str(err) if isinstance(err, InvalidRecord) else f"{type(err).__name__}: {err}"
    return text[:MAX_REASON_LENGTH]


def rows_of(
    records: Iterable[CsvRecord], kind: str, report: FileImport, imported_at: datetime
) -> Iterator[tuple[FileFormat, tuple[Any, ...]]]:
    """Turn CSV records into rows, counting bad rows and blank lines in ``report``.

    The format is decided from the first readable, non-blank record; the first yielded item carries it.
    """
    chosen: FileFormat | None = None
    for record in records:
        report.lines = record.end_line
        if record.fields is None:
            report.add_bad_row(BadRow(record.line, record.end_line, record.error or "unreadable CSV"))
            continue
        if not any(value.strip() for value in record.fields):
            report.blank_lines += record.end_line - record.line + 1
            continue
        if chosen is None:
            chosen = file_format(kind, record.fields)
            report.kind, report.table = chosen.kind, chosen.spec.table
            if chosen.has_header:
                continue
        try:
            check_utf8(record.fields)
            row = chosen.to_row(record.fields, imported_at)
        except ROW_ERRORS as err:
            report.add_bad_row(BadRow(record.line, record.end_line, _reason(err)))
            continue
        report.records += 1
        yield chosen, row


def import_file(
    session: Any,
    keyspace: str,
    path: Path,
    kind: str = KIND_AUTO,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    concurrency: int = DEFAULT_CONCURRENCY,
    imported_at: datetime | None = None,
) -> FileImport:
    """Stream one file into its table, bad rows counted and skipped.

    :raises CsvImportError: the file's format is not what ``kind`` says or cannot be told, or
        rows could not be written (importing the file again is safe: rows are upserts)
    :raises PathOutsideDataRoot: the file opened is not inside the data root
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    imported_at = imported_at or datetime.now(UTC)
    report = FileImport(path=str(path), kind=kind, table="")
    writer: ConcurrentRowWriter | None = None
    chunk: list[tuple[Any, ...]] = []
    try:
        with path.open("rb") as stream:
            check_opened(stream.fileno())  # the file opened is inside the data root too
            for chosen, row in rows_of(csv_records(decoded_lines(stream)), kind, report, imported_at):
                if writer is None:  # prepared once the file's format (and so its table) is known
                    try:
                        writer = ConcurrentRowWriter(
                            session,
                            keyspace,
                            chosen.spec,
                            concurrency=concurrency,
                            consistency_level=write_consistency(),
                        )
                    except InvalidRequest as err:
                        raise schema_hint(err, keyspace) from err
                chunk.append(row)
                if len(chunk) >= chunk_size:
                    _write_chunk(writer, chunk, report)
                    chunk = []
            if chunk and writer is not None:
                _write_chunk(writer, chunk, report)
    except CsvImportError as err:
        raise CsvImportError(f"{path}: {err}") from err
    finally:
        outcome = writer.flush() if writer is not None else None
    if outcome is not None:
        report.rows_written = outcome.rows_written
        if not outcome.ok:
            raise CsvImportError(
                f"{path}: Cassandra write failed for {outcome.describe_failure()}. The file is unchanged and "
                "importing it again is safe: rows are upserts keyed by their natural ids"
            )
    if not report.table:
        report.table = table_of(kind) if kind != KIND_AUTO else ""
    log.info("%s", report.describe())
    return report


def _write_chunk(writer: ConcurrentRowWriter, chunk: list[tuple[Any, ...]], report: FileImport) -> None:
    writer.write(chunk)
    if writer.outcome.first_error is not None:
        raise CsvImportError(
            f"Cassandra write failed after {report.records} rows: "
            f"{type(writer.outcome.first_error).__name__}: {writer.outcome.first_error}"
        )


def csv_files(path: str | Path) -> list[Path]:
    """``path`` itself, or every ``*.csv`` under the folder ``path`` (sorted; hidden temp files skipped).

    Every file is checked against the data root before any is read, and the resolved paths are returned.

    :raises PathOutsideDataRoot: ``path``, or a file under it, leads out of the data root
    :raises CsvImportError: ``path`` does not exist
    """
    resolved = confine(path)
    if resolved.is_file():
        return [resolved]
    if resolved.is_dir():
        found = []
        for candidate in resolved.rglob("*.csv"):
            hidden = any(part.startswith(".") for part in candidate.relative_to(resolved).parts)
            if candidate.is_file() and not hidden:  # skips the export's temporary files
                found.append(confine(candidate, what="file"))
        return sorted(found)
    raise CsvImportError(f"{path} does not exist (relative paths are taken from the data root {data_root()})")


def resolve_import_path(path: str) -> Path:
    """``path`` resolved inside the data root; a relative one starts there (see :func:`confine`)."""
    return confine(path, what="path")


@dataclass
class ImportSummary:
    path: str
    files: list[FileImport] = field(default_factory=list)

    @property
    def bad_rows(self) -> int:
        return sum(f.bad_rows for f in self.files)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "files": [f.as_dict() for f in self.files],
            "records": sum(f.records for f in self.files),
            "rows_written": sum(f.rows_written for f in self.files),
            "bad_rows": self.bad_rows,
        }


def import_path(
    path: str | Path,
    kind: str = KIND_AUTO,
    *,
    keyspace: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    concurrency: int = DEFAULT_CONCURRENCY,
    cassandra_conn_id: str = settings.CASSANDRA_CONN_ID,
) -> ImportSummary:
    """Import a file or every CSV file of a folder inside the data root, one after the other."""
    from kafkapipeline.cassandra.session import cassandra_session

    if kind not in KINDS:
        raise CsvImportError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    files = csv_files(path)
    if not files:
        raise CsvImportError(f"{path} holds no .csv files")
    keyspace = keyspace or settings.keyspace()
    summary = ImportSummary(path=str(confine(path)))
    with cassandra_session(cassandra_conn_id) as session:
        for file in files:
            summary.files.append(
                import_file(session, keyspace, file, kind, chunk_size=chunk_size, concurrency=concurrency)
            )
    return summary


def import_csv_task(*, path: str, kind: str, fail_on_bad_rows: bool, chunk_size: int) -> dict[str, Any]:
    """The ``import_csv`` DAG's task: import the ``path`` Param and return the summary (XCom).

    With ``fail_on_bad_rows`` the task fails only *after* every valid row is written.
    """
    from airflow.sdk.exceptions import AirflowFailException

    try:
        resolved = resolve_import_path(path)
    except PathOutsideDataRoot as err:
        raise AirflowFailException(str(err)) from err  # a retry would be refused the same way
    summary = import_path(resolved, kind, chunk_size=chunk_size)
    result = summary.as_dict()
    log.info(
        "imported %d rows from %d files (%d bad rows) under %s",
        result["rows_written"],
        len(summary.files),
        result["bad_rows"],
        summary.path,
    )
    if summary.bad_rows and fail_on_bad_rows:
        raise AirflowFailException(
            f"{summary.bad_rows} bad rows (listed in the log with their line numbers); "
            "every valid row was imported"
        )
    return result
