"""CSV parsing of the import: the seed formats, the export format, and bad rows with line numbers.

No services: rows are built in memory (``rows_of``), nothing is written.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime

import pytest
from cassandra.util import SortedSet

from kafkapipeline.csvio.export import TWEETS_WITH_SOURCE_LABEL, format_value, write_csv_atomically
from kafkapipeline.csvio.formats import (
    KIND_AUTO,
    KIND_SEED_TWEETS,
    KIND_SEED_WEATHER,
    KIND_TWEETS,
    CsvImportError,
    parse_cell,
)
from kafkapipeline.csvio.lines import csv_records, decoded_lines
from kafkapipeline.csvio.load import FileImport, rows_of
from kafkapipeline.csvio.seed import decode_seed_text, parse_seed_tweet, parse_seed_weather, seed_tweet_id
from kafkapipeline.sentiment.scorers import default_scorer
from kafkapipeline.streams.base import InvalidRecord
from kafkapipeline.streams.tweets import TEXT_MAX_CHARS
from kafkapipeline.streams.weather import WEATHER_TABLE

IMPORTED_AT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

# Lines copied in shape from the seed files: escaped newlines, a surrogate-pair emoji, Latin-1
# \x escapes, a doubled quote inside a quoted field.
SEED_TWEET_LINES = (
    '"First, you get educated.\\n\\nTo learn mor\\u2026 https://t.co/x",'
    "2021-02-09 17:32:49.805726976,MetroVancouver,Negative\n"
    "@Zoica_ns2 \\ud83e\\udd2a,2021-02-09 17:32:59.867209984,MetroVancouver,Negative\n"
    '"""Believe in yourself"" t\\xe3o",2021-02-12 07:31:16.590998784,MetroVancouver,Positive\n'
)
SEED_WEATHER_LINE = (
    "broken clouds,270.75,265.23,269.82,271.48,1023,59,3.6,1612884667,1612920145,"
    "Vancouver,2021-02-09 17:33:00\n"
)


def parse(text: str | bytes, kind: str = KIND_AUTO) -> tuple[FileImport, list[tuple]]:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    report = FileImport(path="test.csv", kind=kind, table="")
    rows = [row for _, row in rows_of(csv_records(decoded_lines(io.BytesIO(raw))), kind, report, IMPORTED_AT)]
    return report, rows


def test_seed_text_escapes_become_the_real_characters():
    assert decode_seed_text("a\\n\\nb") == "a\n\nb"
    assert decode_seed_text("\\ud83e\\udd2a") == "\U0001f92a"  # a surrogate pair is one emoji
    assert decode_seed_text("t\\xe3o \\u2026") == "tão …"
    assert decode_seed_text("lone \\ud83d half") == "lone \ufffd half"  # not encodable: replaced
    assert decode_seed_text("C:\\data \\d") == "C:\\data \\d"  # unknown escapes are kept
    assert decode_seed_text("back\\\\slash") == "back\\slash"


def test_seed_tweets_parse_with_stable_ids_city_mapping_and_label():
    report, rows = parse(SEED_TWEET_LINES)

    assert (report.kind, report.table, report.records, report.bad_rows, report.lines) == (
        KIND_SEED_TWEETS,
        "tweets",
        3,
        0,
        3,
    )
    columns = TWEETS_WITH_SOURCE_LABEL.columns
    first = dict(zip(columns, rows[0], strict=True))
    assert first["city"] == "Vancouver"  # MetroVancouver is filed under Vancouver
    assert first["day"] == date(2021, 2, 9)
    assert first["created_at"] == datetime(2021, 2, 9, 17, 32, 49, 805726, tzinfo=UTC)  # UTC
    assert first["text"] == "First, you get educated.\n\nTo learn mor\u2026 https://t.co/x"
    assert first["source"] == "seed-csv"
    assert first["source_label"] == "Negative"  # the seed's label, kept as it was
    model = default_scorer()
    assert (first["sentiment_score"], first["sentiment_label"]) == tuple(
        model.score_batch([first["text"]])[0]
    )
    assert (first["sentiment_model"], first["sentiment_model_version"]) == (model.name, model.version)
    assert first["ingested_at"] == IMPORTED_AT
    assert first["tweet_id"] == seed_tweet_id(
        "2021-02-09 17:32:49.805726976",
        "First, you get educated.\\n\\nTo learn mor\\u2026 https://t.co/x",
        "MetroVancouver",
    )
    assert dict(zip(columns, rows[1], strict=True))["text"] == "@Zoica_ns2 \U0001f92a"
    assert dict(zip(columns, rows[2], strict=True))["text"] == '"Believe in yourself" tão'

    _, again = parse(SEED_TWEET_LINES)
    assert [r[3] for r in again] == [r[3] for r in rows]  # same lines, same ids
    assert len({r[3] for r in rows}) == 3


def test_seed_tweet_id_depends_on_every_raw_field():
    base = seed_tweet_id("2021-02-09 17:32:49", "hello", "MetroVancouver")
    assert base.startswith("seed-") and len(base) == len("seed-") + 24
    assert seed_tweet_id("2021-02-09 17:32:50", "hello", "MetroVancouver") != base
    assert seed_tweet_id("2021-02-09 17:32:49", "hello!", "MetroVancouver") != base
    assert seed_tweet_id("2021-02-09 17:32:49", "hello", "Burnaby") != base


def test_seed_weather_converts_kelvin_and_epochs():
    report, rows = parse(SEED_WEATHER_LINE)

    assert (report.kind, report.table, report.records) == (KIND_SEED_WEATHER, "weather_reports", 1)
    row = dict(zip(WEATHER_TABLE.drain_spec.columns, rows[0], strict=True))
    assert row["temperature_c"] == -2.4  # 270.75 K
    assert (row["feels_like_c"], row["temp_min_c"], row["temp_max_c"]) == (-7.92, -3.33, -1.67)
    assert (row["pressure_hpa"], row["humidity_pct"], row["wind_speed_ms"]) == (1023, 59, 3.6)
    assert row["sunrise"] == datetime(2021, 2, 9, 15, 31, 7, tzinfo=UTC)
    assert row["sunset"] == datetime(2021, 2, 10, 1, 22, 25, tzinfo=UTC)
    assert row["observed_at"] == datetime(2021, 2, 9, 17, 33, tzinfo=UTC)
    assert (row["city"], row["day"], row["description"], row["provider"]) == (
        "Vancouver",
        date(2021, 2, 9),
        "broken clouds",
        "seed-csv",
    )


def test_bad_rows_are_counted_with_their_line_numbers_and_the_rest_is_kept():
    good = "ok tweet,2021-02-09 17:00:00,MetroVancouver,Positive\n"
    text = (
        good  # line 1
        + "no timestamp here,yesterday,MetroVancouver,Positive\n"  # line 2: bad timestamp
        + "too,few\n"  # line 3: 2 fields
        + "\n"  # line 4: blank, not a row
        + '"spans\ntwo lines",2021-02-09 17:00:01,MetroVancouver,Maybe\n'  # lines 5-6: bad label
        + good.replace("17:00:00", "17:00:02")  # line 7
        + ",2021-02-09 17:00:03,,Positive\n"  # line 8: no location
    )
    report, rows = parse(text, KIND_SEED_TWEETS)

    assert report.records == len(rows) == 2
    assert report.bad_rows == 4
    assert report.blank_lines == 1
    assert report.lines == 8
    listed = [(bad.lines, bad.reason) for bad in report.bad_row_examples]
    assert listed == [
        ("2", "timestamp: not a timestamp: 'yesterday'"),
        ("3", "expected 4 fields (text, timestamp, location, label), got 2"),
        ("5-6", "label: 'Maybe' is not one of Positive, Negative, Neutral"),
        ("8", "location: required text is missing"),
    ]
    assert report.as_dict()["bad_row_examples"][2] == {
        "lines": "5-6",
        "reason": "label: 'Maybe' is not one of Positive, Negative, Neutral",
    }


def test_invalid_utf8_spoils_one_row_not_the_file():
    raw = (
        b"caf\xe9 latin-1 bytes,2021-02-09 17:00:00,MetroVancouver,Positive\n"
        b"fine,2021-02-09 17:00:01,MetroVancouver,Positive\n"
    )
    report, rows = parse(raw, KIND_SEED_TWEETS)

    assert report.records == 1 and rows[0][4] == "fine"
    assert [(b.lines, b.reason) for b in report.bad_row_examples] == [
        ("1", "field 1 is not valid UTF-8 (byte at position 3)")
    ]


def test_implausible_weather_is_a_bad_row():
    hot = SEED_WEATHER_LINE.replace("270.75", "9999")
    report, rows = parse(SEED_WEATHER_LINE + hot, KIND_SEED_WEATHER)

    assert report.records == 1 and len(rows) == 1
    assert report.bad_row_examples[0].line == 2
    assert "is outside the plausible Celsius temperatures" in report.bad_row_examples[0].reason


def test_bad_rows_listed_are_capped_but_all_counted():
    report, _ = parse("x\n" * 50, KIND_SEED_TWEETS)
    assert report.bad_rows == 50
    assert len(report.bad_row_examples) == 20
    assert report.bad_row_examples[-1].line == 20


def test_unknown_format_and_wrong_kind_are_clear_errors():
    with pytest.raises(CsvImportError, match="cannot tell the format: the first record has 3 fields"):
        parse("a,b,c\n")
    with pytest.raises(CsvImportError, match="kind=tweets expects the export format"):
        parse(SEED_TWEET_LINES, KIND_TWEETS)
    header = ",".join(TWEETS_WITH_SOURCE_LABEL.columns) + "\n"
    with pytest.raises(CsvImportError, match="export header of tweets, but kind=seed_weather"):
        parse(header, KIND_SEED_WEATHER)
    with pytest.raises(CsvImportError, match="columns that tweets does not have: \\['colour'\\]"):
        parse("city,created_at,tweet_id,text,colour\n")


def test_export_format_round_trips_through_the_parser(tmp_path):
    """A file written by the export's writer parses back to the very same row values."""
    row = (
        "Vancouver",
        date(2026, 11, 22),
        datetime(2026, 11, 22, 13, 5, 9, 120000, tzinfo=UTC),
        "1862051712345678901",
        'multi\nline, "quoted" text \U0001f600',
        "en",
        None,
        3,
        0,
        None,
        1,
        None,
        "x-api",
        frozenset({"yvr", "rain"}),
        -0.3182,
        "Negative",
        "vader",
        "3.3.2",
        datetime(2026, 11, 22, 13, 6, 0, 1000, tzinfo=UTC),
        None,
    )
    path = tmp_path / "tweets" / "2026-11-22.csv"
    assert write_csv_atomically(path, TWEETS_WITH_SOURCE_LABEL.columns, [row]) == 1
    assert [p.name for p in path.parent.iterdir()] == ["2026-11-22.csv"]  # no temporary file left

    report, rows = parse(path.read_bytes())

    assert (report.kind, report.records, report.bad_rows, report.lines) == (KIND_TWEETS, 1, 0, 3)
    assert rows == [row]


def test_export_rows_keep_their_ingested_at_and_sentiment_or_get_them():
    header = "city,day,created_at,tweet_id,text,sentiment_score,sentiment_label,ingested_at\n"
    text = (
        header
        + "Vancouver,2026-11-22,2026-11-22T01:00:00.000Z,1,I love it,0.5,Positive,2026-11-22T02:00:00.000Z\n"
        + "Vancouver,2026-11-22,2026-11-22T01:00:01.000Z,2,I love it,,,\n"
        + "Vancouver,2026-11-21,2026-11-22T01:00:02.000Z,3,wrong day,,,\n"
    )
    report, rows = parse(text)

    by_id = {row[3]: dict(zip(TWEETS_WITH_SOURCE_LABEL.columns, row, strict=True)) for row in rows}
    assert (by_id["1"]["sentiment_score"], by_id["1"]["sentiment_label"]) == (0.5, "Positive")
    assert by_id["1"]["ingested_at"] == datetime(2026, 11, 22, 2, tzinfo=UTC)
    assert by_id["1"]["sentiment_model"] is None  # restored as written: the file does not say which model
    model = default_scorer()
    assert (by_id["2"]["sentiment_score"], by_id["2"]["sentiment_label"]) == tuple(
        model.score_batch(["I love it"])[0]
    )
    assert (by_id["2"]["sentiment_model"], by_id["2"]["sentiment_model_version"]) == (
        model.name,
        model.version,
    )
    assert by_id["2"]["ingested_at"] == IMPORTED_AT
    assert [(b.lines, b.reason) for b in report.bad_row_examples] == [
        ("4", "day 2026-11-21 is not the UTC day of the row's timestamp (2026-11-22)")
    ]


def test_format_value_is_exact():
    assert format_value(None) == ""
    assert format_value(0.1 + 0.2) == "0.30000000000000004"
    assert format_value(datetime(2026, 1, 2, 3, 4, 5, 678000)) == "2026-01-02T03:04:05.678Z"  # naive = UTC
    assert format_value(date(2026, 1, 2)) == "2026-01-02"
    assert format_value(7) == "7"


def test_csv_records_report_the_lines_each_record_spans():
    records = list(csv_records(['a,"b\n', 'c"\n', "d,e\n"]))
    assert [(r.line, r.end_line, r.fields) for r in records] == [(1, 2, ["a", "b\nc"]), (3, 3, ["d", "e"])]


def test_invalid_record_message_is_the_reason():
    with pytest.raises(InvalidRecord, match="expected 12 fields"):
        parse_seed_weather(["x"] * 11)
    record, label = parse_seed_tweet(["t", "2021-02-09T17:00:00+01:00", "Surrey", ""])
    assert record.created_at == datetime(2021, 2, 9, 16, 0, tzinfo=UTC)  # an explicit zone is honoured
    assert record.city == "Surrey" and label is None


@pytest.mark.parametrize(
    "tags",
    [frozenset({"rain", "yvr"}), frozenset({'quote " and, comma', "é😀", "new\nline"}), frozenset({"one"})],
)
def test_a_text_set_cell_is_a_sorted_json_array_and_round_trips(tags):
    cell = format_value(tags)
    assert json.loads(cell) == sorted(tags)
    assert parse_cell(cell, "hashtags", "set<text>") == tags
    assert format_value(SortedSet(tags)) == cell  # what the driver reads back


@pytest.mark.parametrize("cell", ['"rain"', "[1, 2]", "[rain]", '{"a": 1}', "[" * 5000])
def test_a_bad_text_set_cell_is_a_bad_row(cell):
    with pytest.raises(InvalidRecord, match=r"hashtags: .* is not a valid set<text>"):
        parse_cell(cell, "hashtags", "set<text>")
    assert parse_cell("", "hashtags", "set<text>") is None


def test_an_export_row_with_an_empty_text_or_a_bad_count_is_a_bad_row_naming_the_field():
    header = "city,day,created_at,tweet_id,text,like_count,reply_count\n"
    text = (
        header
        + "Vancouver,2026-11-22,2026-11-22T01:00:00.000Z,1,kept,3,0\n"  # line 2
        + "Vancouver,2026-11-22,2026-11-22T01:00:01.000Z,2,,3,0\n"  # line 3: no text
        + 'Vancouver,2026-11-22,2026-11-22T01:00:02.000Z,3," ",3,0\n'  # line 4: only a space
        + "Vancouver,2026-11-22,2026-11-22T01:00:03.000Z,4,negative,-5,0\n"  # line 5
        + "Vancouver,2026-11-22,2026-11-22T01:00:04.000Z,5,fraction,3,1.5\n"  # line 6
    )
    report, rows = parse(text)

    assert [row[3] for row in rows] == ["1"]
    assert [(b.lines, b.reason) for b in report.bad_row_examples] == [
        ("3", "text: required text is empty"),
        ("4", "text: expected text with a character other than whitespace, got ' '"),
        ("5", "like_count: -5 is outside the range of a count [0, 2147483647] (never negative)"),
        ("6", "reply_count: '1.5' is not a valid int"),
    ]


def test_a_seed_tweet_is_checked_like_any_record():
    text = (
        "kept,2021-02-09 17:00:00,MetroVancouver,Positive\n"
        ",2021-02-09 17:00:01,MetroVancouver,Positive\n"
        '"  ",2021-02-09 17:00:02,MetroVancouver,Positive\n'
        + "x" * (TEXT_MAX_CHARS + 1)
        + ",2021-02-09 17:00:03,MetroVancouver,Positive\n"
    )
    report, rows = parse(text, KIND_SEED_TWEETS)

    assert [row[4] for row in rows] == ["kept"]
    assert [(b.lines, b.reason) for b in report.bad_row_examples] == [
        ("2", "text: required text is empty"),
        ("3", "text: expected text with a character other than whitespace, got '  '"),
        ("4", f"text: {TEXT_MAX_CHARS + 1} characters, more than the {TEXT_MAX_CHARS} allowed"),
    ]
