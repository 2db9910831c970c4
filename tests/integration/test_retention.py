"""Retention: TTLs of the operational tables (migration 0007) and the purge of expired day partitions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from kafkapipeline.cassandra.writer import ConcurrentRowWriter
from kafkapipeline.maintenance.retention import expired_days, purge_expired, retention_days
from kafkapipeline.streams.tweets import TWEETS_TABLE, TweetRecord, tweet_row
from kafkapipeline.streams.weather import WEATHER_TABLE, WeatherRecord, weather_row

TODAY = date(2026, 11, 23)


def test_expired_days_are_the_sweep_just_past_the_horizon():
    # 30 days: 2026-10-25 .. 2026-11-23 are kept; 2026-10-24 is the newest expired day.
    assert expired_days(TODAY, 30, 3) == [date(2026, 10, 22), date(2026, 10, 23), date(2026, 10, 24)]
    assert expired_days(TODAY, 1, 1) == [date(2026, 11, 22)]  # only today is kept
    assert expired_days(TODAY, 0, 7) == []  # 0 keeps forever
    with pytest.raises(ValueError, match="sweep_days"):
        expired_days(TODAY, 30, 0)


def test_retention_days_from_the_param_then_the_environment(monkeypatch):
    monkeypatch.delenv("KAFKAPIPELINE_RETENTION_DAYS_TWEETS", raising=False)
    assert retention_days("tweets") == 0
    monkeypatch.setenv("KAFKAPIPELINE_RETENTION_DAYS_TWEETS", "400")
    assert retention_days("tweets") == 400
    assert retention_days("tweets", 10) == 10
    with pytest.raises(ValueError, match="must be >= 0 days"):
        retention_days("tweets", -1)
    monkeypatch.setenv("KAFKAPIPELINE_RETENTION_DAYS_TWEETS", "a year")
    with pytest.raises(ValueError, match="KAFKAPIPELINE_RETENTION_DAYS_TWEETS"):
        retention_days("tweets")
    with pytest.raises(ValueError, match="no day-partition retention"):
        retention_days("drain_batches")


@pytest.mark.integration
def test_migration_0007_sets_the_ttl_of_the_operational_tables(keyspace, cassandra):
    rows = cassandra.execute(
        "SELECT table_name, default_time_to_live FROM system_schema.tables WHERE keyspace_name = %s",
        (keyspace,),
    )
    ttl = {row.table_name: row.default_time_to_live for row in rows}
    assert ttl["drain_batches"] == 90 * 86_400
    assert ttl["pipeline_health"] == 30 * 86_400
    assert ttl["tweets"] == 0 and ttl["weather_reports"] == 0  # purged by day partition instead


def write_days(cassandra, keyspace: str, city: str, days: list[date], per_day: int = 3) -> None:
    tweets, weather = [], []
    for day in days:
        start = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        for n in range(per_day):
            moment = start + timedelta(minutes=n)
            tweets.append(
                tweet_row(TweetRecord(tweet_id=f"{day}-{n}", text="t", created_at=moment, city=city), moment)
            )
            weather.append(
                weather_row(
                    WeatherRecord(city=city, observed_at=moment, description=None, temperature_c=3.0), moment
                )
            )
    for spec, rows in ((TWEETS_TABLE.drain_spec, tweets), (WEATHER_TABLE.drain_spec, weather)):
        writer = ConcurrentRowWriter(cassandra, keyspace, spec)
        writer.write(rows)
        assert writer.flush().ok


def day_counts(cassandra, keyspace: str, table: str, city: str, days: list[date]) -> list[int]:
    return [
        cassandra.execute(
            f"SELECT COUNT(*) FROM {keyspace}.{table} WHERE city = %s AND day = %s", (city, day)
        ).one()[0]
        for day in days
    ]


@pytest.mark.integration
def test_purge_deletes_only_expired_partitions_of_the_configured_cities(keyspace, cassandra):
    days = [TODAY - timedelta(days=n) for n in (0, 9, 10, 11, 40)]  # kept, kept, expired, expired, too old
    write_days(cassandra, keyspace, "Vancouver", days)
    write_days(cassandra, keyspace, "Burnaby", days)

    preview = purge_expired(
        retention={"tweets": 10, "weather_reports": 0},
        cities=["Vancouver"],
        sweep_days=5,
        dry_run=True,
        today=TODAY,
    )
    tweets_preview = preview["tables"][0]
    assert (
        tweets_preview["partitions_found"],
        tweets_preview["partitions_deleted"],
        tweets_preview["rows"],
    ) == (
        2,
        0,
        6,
    )
    assert day_counts(cassandra, keyspace, "tweets", "Vancouver", days) == [3, 3, 3, 3, 3]  # dry run

    summary = purge_expired(
        retention={"tweets": 10, "weather_reports": 0}, cities=["Vancouver"], sweep_days=5, today=TODAY
    )

    tweets_summary, weather_summary = summary["tables"]
    assert tweets_summary["kept_from"] == (TODAY - timedelta(days=9)).isoformat()
    assert tweets_summary["purged"] == [f"Vancouver/{days[3]}: 3", f"Vancouver/{days[2]}: 3"]
    assert (tweets_summary["partitions_deleted"], summary["rows"]) == (2, 6)
    assert day_counts(cassandra, keyspace, "tweets", "Vancouver", days) == [
        3,
        3,
        0,
        0,
        3,
    ]  # 40 days: past the sweep
    assert day_counts(cassandra, keyspace, "tweets", "Burnaby", days) == [
        3,
        3,
        3,
        3,
        3,
    ]  # not a configured city
    assert weather_summary["days_checked"] == 0  # kept forever
    assert day_counts(cassandra, keyspace, "weather_reports", "Vancouver", days) == [3, 3, 3, 3, 3]
    assert summary["ttl_seconds"] == {"drain_batches": 7_776_000, "pipeline_health": 2_592_000}

    wider = purge_expired(retention={"tweets": 10}, cities=["Vancouver"], sweep_days=60, today=TODAY)
    assert wider["tables"][0]["purged"] == [f"Vancouver/{days[4]}: 3"]  # a larger sweep reaches older history
    assert day_counts(cassandra, keyspace, "tweets", "Vancouver", days) == [3, 3, 0, 0, 0]


@pytest.mark.integration
def test_purge_dag_runs_with_its_params(airflow_db, keyspace, cassandra):
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.test_dag_integrity import DAGS_FOLDER

    today = datetime.now(UTC).date()
    old_day = today - timedelta(days=3)
    write_days(cassandra, keyspace, "Vancouver", [old_day])
    dag = DagBag(dag_folder=str(DAGS_FOLDER / "purge_expired.py")).get_dag("purge_expired")

    dag_run = dag.test(run_conf={"weather_retention_days": 2, "cities": ["Vancouver"], "sweep_days": 2})

    assert dag_run.state == "success"
    ti = next(iter(dag_run.get_task_instances()))
    summary = ti.xcom_pull(task_ids=ti.task_id)
    assert summary["tables"][1]["purged"] == [f"Vancouver/{old_day}: 3"]
    assert day_counts(cassandra, keyspace, "weather_reports", "Vancouver", [old_day]) == [0]
    assert day_counts(cassandra, keyspace, "tweets", "Vancouver", [old_day]) == [3]  # tweets: kept forever
