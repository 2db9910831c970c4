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
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from kafkapipeline.csv_import import import_path

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


def test_seed_tweets_import_through_the_dag_then_again(airflow_db, keyspace, cassandra, reference_data):
    assert sum(TWEETS_PER_DAY.values()) == TWEET_LINES

    dag_run, summary = run_import_dag({"path": str(reference_data / SEED_TWEETS), "kind": "auto"})

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

    again = import_path(reference_data / SEED_TWEETS, "seed_tweets")
    assert again.as_dict()["rows_written"] == TWEET_LINES  # written again...
    assert counts(cassandra, keyspace, "tweets", TWEETS_PER_DAY) == TWEETS_PER_DAY  # ...as the same rows


def test_seed_weather_import_twice_changes_no_count(keyspace, cassandra, reference_data):
    assert sum(WEATHER_PER_DAY.values()) == WEATHER_LINES

    first = import_path(reference_data / SEED_WEATHER).as_dict()

    assert (first["records"], first["rows_written"], first["bad_rows"]) == (WEATHER_LINES, WEATHER_LINES, 0)
    assert first["files"][0]["kind"] == "seed_weather"
    assert counts(cassandra, keyspace, "weather_reports", WEATHER_PER_DAY) == WEATHER_PER_DAY
    row = cassandra.execute(
        f"SELECT temperature_c, provider, sunrise FROM {keyspace}.weather_reports "
        "WHERE city = 'Vancouver' AND day = '2021-02-09' AND observed_at = '2021-02-09 17:33:00+0000'"
    ).one()
    assert (row.temperature_c, row.provider) == (-2.4, "seed-csv")  # 270.75 K
    assert row.sunrise == datetime(2021, 2, 9, 15, 31, 7)  # the driver returns naive UTC

    second = import_path(reference_data / SEED_WEATHER, "seed_weather").as_dict()

    assert second["rows_written"] == WEATHER_LINES
    assert counts(cassandra, keyspace, "weather_reports", WEATHER_PER_DAY) == WEATHER_PER_DAY


def test_bad_rows_are_reported_and_the_valid_rows_land(
    airflow_db, keyspace, cassandra, tmp_path, reference_data
):
    """Seed lines mixed with broken ones: the valid rows are imported, the bad ones listed by line."""
    with (reference_data / SEED_TWEETS).open(encoding="utf-8") as seed:
        valid = [next(seed) for _ in range(3)]
    path = tmp_path / "mixed.csv"
    path.write_text(
        valid[0]
        + "broken,line\n"  # line 2
        + valid[1]
        + '"an unterminated quote,2021-02-09 17:40:00,MetroVancouver,Positive\n'  # line 4 to the end
        + valid[2],
        encoding="utf-8",
    )

    dag_run, _ = run_import_dag({"path": str(path), "kind": "seed_tweets", "fail_on_bad_rows": True})

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


def test_a_keyspace_without_the_source_label_migration_gets_a_clear_error(
    cassandra, reference_data, tmp_path
):
    import shutil

    from kafkapipeline.csv_export import SchemaOutOfDate
    from kafkapipeline.migrations import apply_pending
    from kafkapipeline.settings import cql_dir
    from tests.conftest import unique_name

    for migration in sorted(cql_dir().glob("000[1-6]_*.cql")):  # the schema before 0007 and 0008
        shutil.copy(migration, tmp_path / migration.name)
    old = unique_name("old_schema")
    apply_pending(cassandra, old, cql_dir=tmp_path)
    try:
        with pytest.raises(SchemaOutOfDate, match=r"Run the bootstrap DAG.*0008 adds tweets\.source_label"):
            import_path(reference_data / SEED_TWEETS, keyspace=old)
    finally:
        cassandra.execute(f"DROP KEYSPACE IF EXISTS {old}", timeout=60)
