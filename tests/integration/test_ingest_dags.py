"""The ingest DAGs run by Airflow (``dag.test()``) with no API connection, against the real Kafka.

With no connection set, the runs must fall back to the replay source, produce exactly
the replay records of their data interval, say so in their XCom, and produce the same
keys again when the interval is run a second time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kafkapipeline.sources.base import Interval
from kafkapipeline.sources.replay import ReplayTweetSource, ReplayWeatherSource
from kafkapipeline.streams.tweets import TweetRecord
from kafkapipeline.streams.weather import WeatherRecord
from tests.integration.kafka_reading import read_topic

pytestmark = pytest.mark.integration

# A past schedule tick: the manual run for it covers the 10 minutes before it.
LOGICAL_DATE = datetime(2026, 11, 20, 12, 10, tzinfo=UTC)
COVERED = Interval(LOGICAL_DATE - timedelta(minutes=10), LOGICAL_DATE)


def load_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.test_dag_integrity import DAGS_FOLDER

    return DagBag(dag_folder=str(DAGS_FOLDER / f"{dag_id}.py")).get_dag(dag_id)


def run(
    dag_id: str, logical_date: datetime | None, conf: dict | None = None, run_after: datetime | None = None
):
    dag_run = load_dag(dag_id).test(logical_date=logical_date, run_after=run_after, run_conf=conf or {})
    ti = next(iter(dag_run.get_task_instances()))
    return dag_run, ti.xcom_pull(task_ids=ti.task_id)


@pytest.fixture
def no_api_connections(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_X_API_DEFAULT", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_OPENWEATHERMAP_DEFAULT", raising=False)


def test_ingest_tweets_falls_back_to_replay_and_reproduces_the_interval(
    airflow_db, no_api_connections, kafka_hook, make_topic, monkeypatch
):
    topic = make_topic("dag_tweets", partitions=3, with_dlq=False)
    monkeypatch.setenv("KAFKAPIPELINE_TWEETS_TOPIC", topic)
    expected = ReplayTweetSource("Vancouver", tweets_per_10_minutes=10).records(COVERED)

    dag_run, summary = run("ingest_tweets", LOGICAL_DATE)

    assert dag_run.state == "success"
    assert summary["source"] == "replay"
    assert summary["source_reason"] == (
        "connections x_api_default and mastodon_default not set: using the built-in replay source"
    )
    assert (summary["interval_start"], summary["interval_end"]) == (
        COVERED.start.isoformat(),
        COVERED.end.isoformat(),
    )
    first = read_topic(kafka_hook, topic)
    assert expected and summary["produced"] == len(expected)
    assert sorted(k for k, _ in first) == sorted(r.key for r in expected)
    assert {TweetRecord.from_json(v).to_json() for _, v in first} == {r.to_json() for r in expected}

    again, second_summary = run("ingest_tweets", LOGICAL_DATE)

    assert again.state == "success" and second_summary["produced"] == len(expected)
    both = read_topic(kafka_hook, topic)
    assert sorted(k for k, _ in both) == sorted([r.key for r in expected] * 2)  # same keys, once per run
    assert {v for _, v in both} == {v for _, v in first}  # and the very same values


def test_ingest_weather_falls_back_to_replay_for_the_requested_cities(
    airflow_db, no_api_connections, kafka_hook, make_topic, monkeypatch
):
    topic = make_topic("dag_weather", partitions=1, with_dlq=False)
    monkeypatch.setenv("KAFKAPIPELINE_WEATHER_TOPIC", topic)
    cities = ["Vancouver", "North Vancouver"]
    expected = ReplayWeatherSource(cities).records(COVERED)

    dag_run, summary = run("ingest_weather", LOGICAL_DATE, {"cities": cities})

    assert dag_run.state == "success"
    assert (summary["source"], summary["cities"], summary["produced"]) == ("replay", cities, 2)
    messages = read_topic(kafka_hook, topic)
    assert sorted(k for k, _ in messages) == [b"North Vancouver", b"Vancouver"]
    assert {WeatherRecord.from_json(v).to_json() for _, v in messages} == {r.to_json() for r in expected}

    run("ingest_weather", LOGICAL_DATE, {"cities": cities})
    assert sorted(read_topic(kafka_hook, topic)) == sorted(messages * 2)


def test_a_manual_run_without_logical_date_covers_the_last_complete_period(
    airflow_db, no_api_connections, kafka_hook, make_topic, monkeypatch
):
    """Airflow 3 lets a manual run have no logical date (and so no data interval)."""
    topic = make_topic("dag_manual", partitions=1, with_dlq=False)
    monkeypatch.setenv("KAFKAPIPELINE_WEATHER_TOPIC", topic)

    dag_run, summary = run("ingest_weather", None, run_after=LOGICAL_DATE + timedelta(minutes=4))

    assert dag_run.state == "success" and dag_run.logical_date is None
    assert (summary["interval_start"], summary["interval_end"]) == (
        COVERED.start.isoformat(),
        COVERED.end.isoformat(),
    )
    (message,) = read_topic(kafka_hook, topic)
    assert WeatherRecord.from_json(message[1]).observed_at == COVERED.start
