"""Lines longer than the CSV field limit, and fields over it, are one bad row each; memory stays bounded.

Files are written to disk and read the way import_file reads them (``path.open("rb")``); no services.
"""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kafkapipeline.csvio.formats import KIND_AUTO, KIND_SEED_TWEETS
from kafkapipeline.csvio.lines import SKIP_CHUNK_BYTES, LineReader, csv_records, decoded_lines, max_line_bytes
from kafkapipeline.csvio.load import FileImport, rows_of
from kafkapipeline.sentiment.scorers import default_scorer

IMPORTED_AT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
MIB = 1024 * 1024


def seed_line(n: int) -> bytes:
    return f"tweet {n},2021-02-09 17:00:{n:02d},MetroVancouver,Positive\n".encode()


def parse_file(path: Path, kind: str = KIND_SEED_TWEETS) -> tuple[FileImport, list[tuple]]:
    report = FileImport(path=str(path), kind=kind, table="")
    with path.open("rb") as stream:
        rows = [row for _, row in rows_of(csv_records(decoded_lines(stream)), kind, report, IMPORTED_AT)]
    return report, rows


def write_with_huge_line(path: Path, huge_bytes: int, *, newline: bool, after: int) -> None:
    """Two seed lines, one line of ``huge_bytes`` bytes (written in 1 MiB pieces), ``after`` seed lines."""
    with path.open("wb") as out:
        out.write(seed_line(1) + seed_line(2))
        piece = b"x" * MIB
        left = huge_bytes
        while left:
            out.write(piece[: min(left, MIB)])
            left -= min(left, MIB)
        if newline:
            out.write(b"\n")
        for n in range(3, 3 + after):
            out.write(seed_line(n))


def test_a_50_mb_line_is_one_bad_row_read_in_bounded_memory(tmp_path):
    path = tmp_path / "huge.csv"
    write_with_huge_line(path, 50 * MIB, newline=True, after=3)
    default_scorer().score_batch(["load the sentiment model first"])  # once per process, not per line

    tracemalloc.start()
    try:
        report, rows = parse_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 4 * MIB, f"peak {peak} bytes while reading a 50 MB line"
    assert (report.records, report.bad_rows, report.lines) == (5, 1, 6)
    assert [row[4] for row in rows] == ["tweet 1", "tweet 2", "tweet 3", "tweet 4", "tweet 5"]
    (bad,) = report.bad_row_examples
    assert bad.lines == "3"
    assert bad.reason == (
        f"line 3 is {50 * MIB + 1} bytes, longer than the limit of {max_line_bytes()} bytes "
        "(the CSV field limit); it was skipped"
    )


def test_a_huge_last_line_without_newline_ends_the_file_as_one_bad_row(tmp_path):
    path = tmp_path / "tail.csv"
    write_with_huge_line(path, 3 * MIB + 17, newline=False, after=0)

    report, _ = parse_file(path)

    assert (report.records, report.bad_rows, report.lines) == (2, 1, 3)
    assert report.bad_row_examples[0].reason.startswith(f"line 3 is {3 * MIB + 17} bytes")


def test_a_huge_first_line_does_not_decide_the_format(tmp_path):
    path = tmp_path / "first.csv"
    path.write_bytes(b"y" * (max_line_bytes() + 5) + b"\n" + seed_line(1) + seed_line(2))

    report, _ = parse_file(path, KIND_AUTO)  # auto: the first readable record says seed tweets

    assert (report.kind, report.records, report.bad_rows) == (KIND_SEED_TWEETS, 2, 1)
    assert report.bad_row_examples[0].lines == "1"


def test_a_line_just_at_the_limit_is_read(tmp_path):
    line = seed_line(1)
    # Padded with the seed's escaped "\u2026" (6 bytes, one character), so the line reaches the byte
    # limit while its text stays within the tweet's TEXT_MAX_CHARS.
    escapes, rest = divmod(max_line_bytes() - len(line), len(b"\\u2026"))
    text = line[:1] + b"\\u2026" * escapes + b"y" * rest + line[1:]  # exactly the limit, newline included
    assert len(text) == max_line_bytes()
    path = tmp_path / "limit.csv"
    path.write_bytes(text + b"\n" + seed_line(2))  # the blank line keeps it a line of its own

    report, rows = parse_file(path)

    assert (report.records, report.bad_rows) == (2, 0)
    assert rows[0][4] == "t" + "\u2026" * escapes + "y" * rest + "weet 1"


def test_a_field_over_the_csv_limit_across_lines_is_one_bad_row(tmp_path):
    limit = csv.field_size_limit()
    half = b"z" * (limit // 2 + 10)
    path = tmp_path / "field.csv"
    # A quoted field of three short-enough lines that together pass the field limit.
    path.write_bytes(
        seed_line(1)
        + b'"'
        + half
        + b"\n"
        + half
        + b"\n"
        + half
        + b'",2021-02-09 17:00:30,MetroVancouver,Positive\n'
        + seed_line(2)
    )

    report, rows = parse_file(path)

    assert [row[4] for row in rows] == ["tweet 1", "tweet 2"]
    assert report.bad_rows == 1
    (bad,) = report.bad_row_examples
    assert bad.lines == "2-4"  # the rest of the cut-short quoted field belongs to the bad row
    assert bad.reason == f"unreadable CSV: field larger than field limit ({limit})"


def test_overlong_lines_inside_one_quoted_record_make_one_bad_row():
    limit = 100
    text = b'"opens a quote\n' + b"w" * 300 + b"\n" + b"v" * 300 + b'\n",closes\nnext,line\n'
    reader = LineReader(io.BytesIO(text), max_bytes=limit)

    records = list(csv_records(reader))

    assert [(r.line, r.end_line, r.fields) for r in records] == [(1, 4, None), (5, 5, ["next", "line"])]
    assert records[0].error == (
        "line 2 is 301 bytes, longer than the limit of 100 bytes (the CSV field limit); "
        "it was skipped (and 1 more such lines)"
    )


def test_skipping_reads_in_bounded_chunks():
    class Counting(io.BytesIO):
        largest = 0

        def readline(self, size: int | None = -1) -> bytes:  # type: ignore[override]
            assert size is not None and 0 < size <= max(SKIP_CHUNK_BYTES, 1001)
            line = super().readline(size)
            Counting.largest = max(Counting.largest, len(line))
            return line

    stream = Counting(b"a" * (5 * SKIP_CHUNK_BYTES) + b"\nok\n")
    lines = list(LineReader(stream, max_bytes=1000))

    assert lines == ["\n", "ok\n"]
    assert Counting.largest <= SKIP_CHUNK_BYTES


def test_line_limit_must_be_positive():
    with pytest.raises(ValueError, match="max_bytes must be at least 1"):
        LineReader(io.BytesIO(b""), max_bytes=-1)


def test_a_huge_line_that_opens_a_quote_swallows_only_up_to_the_closing_quote():
    text = b"a,b\n" + b'"' + b"q" * 500 + b'\nstill quoted\nends here",x\nc,d\n'
    records = list(csv_records(LineReader(io.BytesIO(text), max_bytes=100)))

    assert [(r.line, r.end_line, r.fields) for r in records] == [
        (1, 1, ["a", "b"]),
        (2, 4, None),  # the overlong line opened a quote that line 4 closes
        (5, 5, ["c", "d"]),
    ]
