"""Export a day with the export_csv DAG, delete it, import the files back: every row returns exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kafkapipeline.cassandra.writer import ConcurrentRowWriter
from kafkapipeline.csvio.export import TWEETS_WITH_SOURCE_LABEL, export_path
from kafkapipeline.csvio.load import import_path
from kafkapipeline.streams.tweets import TweetRecord, tweet_row
from kafkapipeline.streams.weather import WEATHER_TABLE, WeatherRecord, weather_row

pytestmark = pytest.mark.integration

DAY = datetime(2026, 11, 22, tzinfo=UTC)
CITIES = ["Vancouver", "Burnaby"]
INGESTED_AT = datetime(2026, 11, 22, 23, 59, 59, 123000, tzinfo=UTC)


def tweet_rows() -> list[tuple]:
    texts = [
        "plain",
        'multi\nline, with "quotes", a comma and an emoji \U0001f327',
        "  spaces around  ",  # kept exactly (an empty text is refused, tests/unit/csvio)
        "trailing backslash \\",
        "I love this sunny day!",
    ]
    rows = []
    for n, text in enumerate(texts * 6):
        city = CITIES[n % 2]
        record = TweetRecord(
            tweet_id=f"{1862000000000000000 + n}",
            text=text,
            created_at=DAY + timedelta(minutes=7 * n, milliseconds=n),
            city=city,
            lang="en" if n % 3 else None,
            author_id=None if n % 4 else f"author{n}",
            retweet_count=n,
            like_count=None if n % 2 else 10 * n,
            source="x-api",
            hashtags=None if n % 3 == 1 else frozenset({"yvr", f'tag, "{n}"'} if n % 2 else {"rain"}),
        )
        rows.append((*tweet_row(record, INGESTED_AT), "Positive" if n % 5 == 0 else None))
    # A tweet of the next day: not part of the export of DAY.
    late = TweetRecord(
        tweet_id="999", text="tomorrow", created_at=DAY + timedelta(days=1, minutes=1), city="Vancouver"
    )
    rows.append((*tweet_row(late, INGESTED_AT), None))
    return rows


def weather_rows() -> list[tuple]:
    rows = []
    for n in range(12):
        record = WeatherRecord(
            city=CITIES[n % 2],
            observed_at=DAY + timedelta(minutes=10 * n, seconds=n, milliseconds=250),
            description=None if n == 3 else "light rain",
            temperature_c=4.1 + n / 3,  # not a round decimal: must survive the CSV exactly
            feels_like_c=None if n % 2 else 1.0 / 3.0,
            temp_min_c=-0.0,
            temp_max_c=1e-7,
            pressure_hpa=1013,
            humidity_pct=None if n == 5 else 90,
            wind_speed_ms=3.6,
            sunrise=DAY + timedelta(hours=15, minutes=31),
            sunset=None,
            provider="open-meteo",
        )
        rows.append(weather_row(record, INGESTED_AT))
    return rows


def write(cassandra, keyspace, spec, rows) -> None:
    writer = ConcurrentRowWriter(cassandra, keyspace, spec)
    writer.write(rows)
    assert writer.flush().ok


def day_rows(cassandra, keyspace: str, spec) -> dict[tuple, tuple]:
    """Every row of DAY for the cities, all columns, keyed by primary key."""
    statement = cassandra.prepare(
        f"SELECT {', '.join(spec.columns)} FROM {keyspace}.{spec.table} WHERE city = ? AND day = ?"
    )
    rows = {}
    for city in CITIES:
        for row in cassandra.execute(statement, (city, DAY.date())):
            rows[tuple(row[:4])] = tuple(row)
    return rows


def run_export(export_dir: str) -> dict:
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.test_dag_integrity import DAGS_FOLDER

    dag = DagBag(dag_folder=str(DAGS_FOLDER / "export_csv.py")).get_dag("export_csv")
    # A manual run at the tick ending DAY covers the schedule period before it: [DAY, DAY + 1 day).
    dag_run = dag.test(
        logical_date=DAY + timedelta(days=1), run_conf={"export_dir": export_dir, "cities": CITIES}
    )
    assert dag_run.state == "success"
    ti = next(iter(dag_run.get_task_instances()))
    return ti.xcom_pull(task_ids=ti.task_id)


def test_export_then_import_round_trips_every_row(airflow_db, keyspace, cassandra, data_root):
    write(cassandra, keyspace, TWEETS_WITH_SOURCE_LABEL, tweet_rows())
    write(cassandra, keyspace, WEATHER_TABLE.drain_spec, weather_rows())
    tweets_before = day_rows(cassandra, keyspace, TWEETS_WITH_SOURCE_LABEL)
    weather_before = day_rows(cassandra, keyspace, WEATHER_TABLE.drain_spec)
    assert (len(tweets_before), len(weather_before)) == (30, 12)

    summary = run_export("daily")  # relative: a folder of the data root

    assert summary["export_dir"] == str(data_root / "daily")
    assert summary["days"] == ["2026-11-22"]
    assert {(f["table"], f["rows"]) for f in summary["files"]} == {("tweets", 30), ("weather_reports", 12)}
    tweets_file = export_path(data_root / "daily", "tweets", DAY.date())
    weather_file = export_path(data_root / "daily", "weather_reports", DAY.date())
    assert sorted(p.name for p in tweets_file.parent.iterdir()) == ["2026-11-22.csv"]  # no temp file left
    first_export = (tweets_file.read_bytes(), weather_file.read_bytes())

    for spec in (TWEETS_WITH_SOURCE_LABEL, WEATHER_TABLE.drain_spec):
        for city in CITIES:
            cassandra.execute(
                f"DELETE FROM {keyspace}.{spec.table} WHERE city = %s AND day = %s", (city, DAY.date())
            )
    assert day_rows(cassandra, keyspace, TWEETS_WITH_SOURCE_LABEL) == {}

    imported = import_path("daily").as_dict()

    assert (imported["records"], imported["bad_rows"]) == (42, 0)
    assert day_rows(cassandra, keyspace, TWEETS_WITH_SOURCE_LABEL) == tweets_before
    assert day_rows(cassandra, keyspace, WEATHER_TABLE.drain_spec) == weather_before
    tomorrow = cassandra.execute(
        f"SELECT COUNT(*) FROM {keyspace}.tweets WHERE city = 'Vancouver' AND day = %s",
        (DAY.date() + timedelta(days=1),),
    ).one()[0]
    assert tomorrow == 1  # the next day was neither exported nor touched

    # Re-running the day rewrites the same files with the same content.
    run_export(str(data_root / "daily"))  # the same folder, named by its absolute path
    assert (tweets_file.read_bytes(), weather_file.read_bytes()) == first_export


def test_an_export_dir_outside_the_data_root_fails_the_run_and_writes_nothing(
    airflow_db, keyspace, data_root, tmp_path
):
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.test_dag_integrity import DAGS_FOLDER

    outside = tmp_path / "outside"
    dag = DagBag(dag_folder=str(DAGS_FOLDER / "export_csv.py")).get_dag("export_csv")
    dag_run = dag.test(logical_date=DAY + timedelta(days=1), run_conf={"export_dir": str(outside)})

    assert dag_run.state == "failed"
    assert not outside.exists()
    assert list(data_root.iterdir()) == []
