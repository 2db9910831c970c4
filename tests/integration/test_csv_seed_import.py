"""Import of the seed's two real CSV files into the real Cassandra, through the import_csv DAG.

What the files hold (inspected line by line when this test was written):

* ``seed_tweets_vancouver_2021.csv``: 4809 lines, 4809 CSV records of 4 fields (text, timestamp,
  location, label), no header. Every one is valid: 60 texts contain quotes (CSV-doubled), 1287
  escaped ``\\n`` sequences, 12038 ``\\uXXXX`` escapes (emojis as surrogate pairs, none broken)
  and 385 ``\\xHH`` escapes, all decoded; no raw newline inside a quoted field; every timestamp
  parses; location is always ``MetroVancouver``; labels are Positive (2772) or Negative (2037).
  No two lines share (timestamp, text, location), so the 4809 derived ids are distinct and the
  4809 lines become 4809 rows, over four UTC days.
* ``seed_weather_vancouver_2021.csv``: 2215 lines, 2215 records of 12 fields, all valid
  (temperatures 267.8-275.39 K, no two reports at the same time), so 2215 rows.

A second import writes the same keys again (upserts): no count changes.

The real files are read from ../shared/reference-data (copied into the test's data root, the only
folder import_csv reads); without ../shared those tests skip. The seed format itself is also
covered by small files in the same shape that the tests write themselves, with the awkward cases
the real files lack (a raw newline inside a quoted field, a bad timestamp).
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime

import pytest

from kafkapipeline.csvio.load import import_path
from kafkapipeline.csvio.seed import seed_tweet_id

pytestmark = pytest.mark.integration

SEED_TWEETS = "seed_tweets_vancouver_2021.csv"
SEED_WEATHER = "seed_weather_vancouver_2021.csv"
TWEETS_PER_DAY = {
    date(2021, 2, 9): 1827,
    date(2021, 2, 10): 1086,
    date(2021, 2, 11): 914,
    date(2021, 2, 12): 982,
}
WEATHER_PER_DAY = {
    date(2021, 2, 9): 764,
    date(2021, 2, 10): 702,
    date(2021, 2, 11): 747,
    date(2021, 2, 12): 2,
}
TWEET_LINES = 4809
WEATHER_LINES = 2215

# Seed-format lines written by the tests (shape of seed_*_vancouver_2021.csv: no header, naive UTC
# timestamps with nanoseconds, Python-escaped text, MetroVancouver).
SMALL_TWEETS = (
    '"Rain again, Vancouver, really?",2021-02-10 08:01:02.123456789,MetroVancouver,Negative\n'  # 1
    '"First line\nsecond line, after a raw newline",'  # 2-3
    "2021-02-10 08:02:03.000000001,MetroVancouver,Positive\n"
    "@Zoica_ns2 \\ud83e\\udd2a,2021-02-10 08:03:04.500000000,MetroVancouver,Positive\n"  # 4
    '"She said ""hi"" t\\xe3o\\u2026 https://t.co/x",'  # 5
    "2021-02-10 08:04:05.250000000,MetroVancouver,Negative\n"
    "a bad timestamp,2021-02-30 25:61:00,MetroVancouver,Positive\n"  # 6
    "#BOYCOTTBELL,2021-02-11 00:00:00.000000000,MetroVancouver,Positive\n"  # 7
)
SMALL_TWEET_TEXTS = {
    datetime(2021, 2, 10, 8, 1, 2, 123000): "Rain again, Vancouver, really?",
    datetime(2021, 2, 10, 8, 2, 3): "First line\nsecond line, after a raw newline",
    datetime(2021, 2, 10, 8, 3, 4, 500000): "@Zoica_ns2 \U0001f92a",
    datetime(2021, 2, 10, 8, 4, 5, 250000): 'She said "hi" t\u00e3o\u2026 https://t.co/x',
}
SUN = "1612884667,1612920145"  # sunrise, sunset (epoch seconds)
SMALL_WEATHER = (
    f"broken clouds,270.75,265.23,269.82,271.48,1023,59,3.6,{SUN},Vancouver,2021-02-09 17:33:00\n"
    f'"rain, heavy",275.39,270.1,274.82,276.48,1001,93,7.2,{SUN},Vancouver,2021-02-09 18:03:00\n'
    f"clear sky,warm,265.23,269.82,271.48,1023,59,3.6,{SUN},Vancouver,2021-02-09 18:33:00\n"  # bad temp
)


def counts(cassandra, keyspace: str, table: str, days) -> dict[date, int]:
    return {
        day: cassandra.execute(
            f"SELECT COUNT(*) FROM {keyspace}.{table} WHERE city = 'Vancouver' AND day = %s", (day,)
        ).one()[0]
        for day in days
    }


def run_import_dag(conf: dict):
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.test_dag_integrity import DAGS_FOLDER

    dag = DagBag(dag_folder=str(DAGS_FOLDER / "import_csv.py")).get_dag("import_csv")
    dag_run = dag.test(run_conf=conf)
    ti = next(iter(dag_run.get_task_instances()))
    return dag_run, ti.xcom_pull(task_ids=ti.task_id)


def copy_seed(reference_data, data_root, name: str) -> str:
    """Copy a real seed file into the data root; its path relative to the root."""
    (data_root / "seed").mkdir(exist_ok=True)
    shutil.copy(reference_data / name, data_root / "seed" / name)
    return f"seed/{name}"


def test_seed_tweets_import_through_the_dag_then_again(
    airflow_db, keyspace, cassandra, reference_data, data_root
):
    assert sum(TWEETS_PER_DAY.values()) == TWEET_LINES
    path = copy_seed(reference_data, data_root, SEED_TWEETS)

    dag_run, summary = run_import_dag({"path": path, "kind": "auto"})

    assert dag_run.state == "success"
    (file_summary,) = summary["files"]
    assert file_summary["kind"] == "seed_tweets" and file_summary["table"] == "tweets"
    assert (file_summary["lines"], file_summary["records"], file_summary["bad_rows"]) == (
        TWEET_LINES,
        TWEET_LINES,
        0,
    )
    assert file_summary["rows_written"] == TWEET_LINES
    assert counts(cassandra, keyspace, "tweets", TWEETS_PER_DAY) == TWEETS_PER_DAY

    # The fourth line, an emoji written as the escaped surrogate pair \ud83e\udd2a.
    emoji = cassandra.execute(
        f"SELECT text, source, source_label, sentiment_label FROM {keyspace}.tweets "
        "WHERE city = 'Vancouver' AND day = '2021-02-09' AND created_at = %s",
        (datetime(2021, 2, 9, 17, 32, 59, 867000, tzinfo=UTC),),
    ).one()
    assert (emoji.text, emoji.source, emoji.source_label) == ("@Zoica_ns2 \U0001f92a", "seed-csv", "Negative")
    assert emoji.sentiment_label in ("Positive", "Negative", "Neutral")
    labels = cassandra.execute(
        f"SELECT source_label FROM {keyspace}.tweets WHERE city = 'Vancouver' AND day = '2021-02-12'"
    )
    assert {row.source_label for row in labels} == {"Positive", "Negative"}  # the seed's labels, kept

    again = import_path(path, "seed_tweets")
    assert again.as_dict()["rows_written"] == TWEET_LINES  # written again...
    assert counts(cassandra, keyspace, "tweets", TWEETS_PER_DAY) == TWEETS_PER_DAY  # ...as the same rows


def test_seed_weather_import_twice_changes_no_count(keyspace, cassandra, reference_data, data_root):
    assert sum(WEATHER_PER_DAY.values()) == WEATHER_LINES
    path = copy_seed(reference_data, data_root, SEED_WEATHER)

    first = import_path(path).as_dict()

    assert (first["records"], first["rows_written"], first["bad_rows"]) == (WEATHER_LINES, WEATHER_LINES, 0)
    assert first["files"][0]["kind"] == "seed_weather"
    assert counts(cassandra, keyspace, "weather_reports", WEATHER_PER_DAY) == WEATHER_PER_DAY
    row = cassandra.execute(
        f"SELECT temperature_c, provider, sunrise FROM {keyspace}.weather_reports "
        "WHERE city = 'Vancouver' AND day = '2021-02-09' AND observed_at = '2021-02-09 17:33:00+0000'"
    ).one()
    assert (row.temperature_c, row.provider) == (-2.4, "seed-csv")  # 270.75 K
    assert row.sunrise == datetime(2021, 2, 9, 15, 31, 7)  # the driver returns naive UTC

    second = import_path(data_root / path, "seed_weather").as_dict()  # absolute, inside the root

    assert second["rows_written"] == WEATHER_LINES
    assert counts(cassandra, keyspace, "weather_reports", WEATHER_PER_DAY) == WEATHER_PER_DAY


def test_small_seed_files_in_the_seed_format_import_through_the_dag(
    airflow_db, keyspace, cassandra, data_root
):
    """Seed-format files written here (no ../shared needed): awkward rows land, the bad one is listed."""
    (data_root / "seed").mkdir()
    (data_root / "seed" / "tweets.csv").write_text(SMALL_TWEETS, encoding="utf-8")
    (data_root / "seed" / "weather.csv").write_text(SMALL_WEATHER, encoding="utf-8")

    dag_run, summary = run_import_dag({"path": "seed", "kind": "auto"})  # the folder, relative to the root

    assert dag_run.state == "success"
    by_kind = {f["kind"]: f for f in summary["files"]}
    tweets, weather = by_kind["seed_tweets"], by_kind["seed_weather"]
    assert (tweets["lines"], tweets["records"], tweets["rows_written"], tweets["bad_rows"]) == (7, 5, 5, 1)
    assert tweets["bad_row_examples"] == [
        {"lines": "6", "reason": "timestamp: not a timestamp: '2021-02-30 25:61:00'"}
    ]
    assert (weather["records"], weather["rows_written"], weather["bad_rows"]) == (2, 2, 1)
    assert weather["bad_row_examples"] == [{"lines": "3", "reason": "temp: not a number: 'warm'"}]

    rows = cassandra.execute(
        f"SELECT created_at, tweet_id, text, source, source_label FROM {keyspace}.tweets "
        "WHERE city = 'Vancouver' AND day = '2021-02-10'"
    )
    landed = {row.created_at: row for row in rows}
    assert {at: row.text for at, row in landed.items()} == SMALL_TWEET_TEXTS
    first = landed[datetime(2021, 2, 10, 8, 1, 2, 123000)]
    assert (first.source, first.source_label) == ("seed-csv", "Negative")
    assert first.tweet_id == seed_tweet_id(
        "2021-02-10 08:01:02.123456789", "Rain again, Vancouver, really?", "MetroVancouver"
    )
    assert counts(cassandra, keyspace, "tweets", [date(2021, 2, 11)]) == {date(2021, 2, 11): 1}
    described = cassandra.execute(
        f"SELECT description, temperature_c FROM {keyspace}.weather_reports "
        "WHERE city = 'Vancouver' AND day = '2021-02-09'"
    )
    assert sorted((r.description, r.temperature_c) for r in described) == [
        ("broken clouds", -2.4),
        ("rain, heavy", 2.24),
    ]

    again = import_path("seed/tweets.csv").as_dict()  # upserts: the same rows again
    assert again["rows_written"] == 5
    assert counts(cassandra, keyspace, "tweets", [date(2021, 2, 10)]) == {date(2021, 2, 10): 4}


def test_a_path_outside_the_data_root_fails_the_run_and_reads_nothing(
    airflow_db, keyspace, cassandra, data_root, tmp_path
):
    outside = tmp_path / "outside.csv"
    outside.write_text(SMALL_TWEETS, encoding="utf-8")
    (data_root / "link.csv").symlink_to(outside)

    for path in (str(outside), "link.csv"):
        dag_run, summary = run_import_dag({"path": path, "kind": "seed_tweets"})
        assert dag_run.state == "failed"
        assert summary is None
    assert counts(cassandra, keyspace, "tweets", [date(2021, 2, 10)]) == {date(2021, 2, 10): 0}


def test_bad_rows_are_reported_and_the_valid_rows_land(airflow_db, keyspace, cassandra, data_root):
    """Seed lines mixed with broken ones: the valid rows are imported, the bad ones listed by line."""
    valid = [
        "I saw a lot of people complaining\\u2026 https://t.co/x,"
        "2021-02-09 17:32:55.664623872,MetroVancouver,Positive\n",
        "@Zoica_ns2 \\ud83e\\udd2a,2021-02-09 17:32:59.867209984,MetroVancouver,Negative\n",
        "#BOYCOTTBELL,2021-02-09 17:34:42.826380032,MetroVancouver,Negative\n",
    ]
    path = data_root / "mixed.csv"
    path.write_text(
        valid[0]
        + "broken,line\n"  # line 2
        + valid[1]
        + '"an unterminated quote,2021-02-09 17:40:00,MetroVancouver,Positive\n'  # line 4 to the end
        + valid[2],
        encoding="utf-8",
    )

    dag_run, _ = run_import_dag({"path": "mixed.csv", "kind": "seed_tweets", "fail_on_bad_rows": True})

    assert dag_run.state == "failed"  # asked to fail on bad rows: red, but only after the import
    day = cassandra.execute(
        f"SELECT COUNT(*) FROM {keyspace}.tweets WHERE city = 'Vancouver' AND day = '2021-02-09'"
    ).one()[0]
    assert day == 2  # lines 1 and 3; line 5 was swallowed by the open quote of line 4

    summary = import_path(path, "seed_tweets").as_dict()["files"][0]
    assert (summary["records"], summary["bad_rows"], summary["lines"]) == (2, 2, 5)
    assert summary["bad_row_examples"] == [
        {"lines": "2", "reason": "expected 4 fields (text, timestamp, location, label), got 2"},
        {"lines": "4-5", "reason": "expected 4 fields (text, timestamp, location, label), got 1"},
    ]


def test_a_keyspace_without_the_source_label_migration_gets_a_clear_error(cassandra, data_root, tmp_path):
    import shutil

    from kafkapipeline.cassandra.migrations import apply_pending
    from kafkapipeline.csvio.export import SchemaOutOfDate
    from kafkapipeline.settings import cql_dir
    from tests.conftest import unique_name

    for migration in sorted(cql_dir().glob("000[1-6]_*.cql")):  # the schema before 0007 and 0008
        shutil.copy(migration, tmp_path / migration.name)
    (data_root / "tweets.csv").write_text(SMALL_TWEETS, encoding="utf-8")
    old = unique_name("old_schema")
    apply_pending(cassandra, old, cql_dir=tmp_path)
    try:
        with pytest.raises(SchemaOutOfDate, match=r"Run the bootstrap DAG.*0008 adds tweets\.source_label"):
            import_path("tweets.csv", keyspace=old)
    finally:
        cassandra.execute(f"DROP KEYSPACE IF EXISTS {old}", timeout=60)
