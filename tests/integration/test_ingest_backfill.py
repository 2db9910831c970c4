"""Backfilling ingest_tweets over a past range re-produces exactly that range's records.

Three consecutive runs (one per 10-minute data interval, as a backfill creates them) are
run with ``dag.test()``; the real scheduler's ``airflow backfill create`` is exercised by
the e2e suite.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kafkapipeline.sources.base import Interval
from kafkapipeline.sources.replay import ReplayTweetSource, ReplayWeatherSource
from tests.integration.kafka_reading import read_topic
from tests.integration.test_ingest_dags import run

pytestmark = pytest.mark.integration

RANGE = Interval(datetime(2026, 10, 3, 6, 0, tzinfo=UTC), datetime(2026, 10, 3, 6, 30, tzinfo=UTC))
# A run with logical date T covers [T - 10 min, T): these three cover RANGE exactly.
LOGICAL_DATES = [RANGE.start + timedelta(minutes=m) for m in (10, 20, 30)]


def backfill(dag_id: str, conf: dict) -> list[dict]:
    summaries = []
    for logical_date in LOGICAL_DATES:
        dag_run, summary = run(dag_id, logical_date, conf)
        assert dag_run.state == "success"
        summaries.append(summary)
    return summaries


def test_backfilled_tweets_equal_the_range_and_a_rerun_gives_the_same_keys(
    airflow_db, kafka_hook, make_topic, monkeypatch
):
    topic = make_topic("backfill_tweets", partitions=3, with_dlq=False)
    monkeypatch.setenv("KAFKAPIPELINE_TWEETS_TOPIC", topic)
    expected_keys = sorted(r.key for r in ReplayTweetSource().records(RANGE))

    summaries = backfill("ingest_tweets", {"source": "replay"})

    assert [(s["interval_start"], s["interval_end"]) for s in summaries] == [
        ((t - timedelta(minutes=10)).isoformat(), t.isoformat()) for t in LOGICAL_DATES
    ]
    first = read_topic(kafka_hook, topic)
    assert expected_keys and sorted(k for k, _ in first) == expected_keys

    backfill("ingest_tweets", {"source": "replay"})

    assert sorted(k for k, _ in read_topic(kafka_hook, topic)) == sorted(expected_keys * 2)


def test_backfilled_weather_has_one_observation_per_grid_point(
    airflow_db, kafka_hook, make_topic, monkeypatch
):
    topic = make_topic("backfill_weather", partitions=1, with_dlq=False)
    monkeypatch.setenv("KAFKAPIPELINE_WEATHER_TOPIC", topic)

    backfill("ingest_weather", {"source": "replay", "cities": ["Surrey"]})

    values = sorted(v for _, v in read_topic(kafka_hook, topic))
    assert values == sorted(r.to_json() for r in ReplayWeatherSource(["Surrey"]).records(RANGE))
    assert len(values) == 3
