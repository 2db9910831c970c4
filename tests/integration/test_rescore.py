"""rescore_tweets against real Cassandra: re-scores only the chosen partitions, idempotently, in pages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from kafkapipeline.sentiment.rescore import rescore_tweets
from kafkapipeline.sentiment.scorers import VADER, scorer

pytestmark = pytest.mark.integration

DAY = date(2026, 11, 20)
TEXTS = [
    "What a wonderful sunny morning on the seawall, I love this city",
    "Another grey, gloomy day. Miss the sun so much, this is awful",
    "Road closure on Main St between 5th and 7th tonight",
]


def write_tweets(cassandra, keyspace: str, city: str, day: date, count: int) -> None:
    insert = cassandra.prepare(
        f"INSERT INTO {keyspace}.tweets (city, day, created_at, tweet_id, text, sentiment_score, "
        "sentiment_label, source) VALUES (?, ?, ?, ?, ?, 0.0, 'Stale', 'test')"
    )
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    for n in range(count):
        cassandra.execute(
            insert, (city, day, start + timedelta(seconds=n), f"{city}-{day}-{n}", TEXTS[n % len(TEXTS)])
        )


def stored(cassandra, keyspace: str, city: str, day: date) -> list:
    return list(
        cassandra.execute(
            f"SELECT tweet_id, text, sentiment_score, sentiment_label, sentiment_model, "
            f"sentiment_model_version, source FROM {keyspace}.tweets WHERE city = %s AND day = %s",
            (city, day),
        )
    )


def test_rescore_writes_the_models_scores_only_where_asked_and_skips_what_it_already_did(keyspace, cassandra):
    write_tweets(cassandra, keyspace, "Vancouver", DAY, 25)
    write_tweets(cassandra, keyspace, "Vancouver", DAY + timedelta(days=5), 4)  # outside the range
    write_tweets(cassandra, keyspace, "Burnaby", DAY, 3)  # another city

    summary = rescore_tweets(DAY, DAY + timedelta(days=1), cities=["Vancouver"], model=VADER, page_size=7)

    vader = scorer(VADER)
    assert (summary.model, summary.model_version) == (vader.name, vader.version)
    assert (summary.partitions, summary.rows_read, summary.rows_rescored) == (2, 25, 25)
    assert summary.rows_skipped == 0
    rows = stored(cassandra, keyspace, "Vancouver", DAY)
    assert len(rows) == 25
    for row in rows:
        expected = vader.score_batch([row.text])[0]
        assert (row.sentiment_score, row.sentiment_label) == (expected.score, expected.label)
        assert (row.sentiment_model, row.sentiment_model_version) == (vader.name, vader.version)
        assert row.source == "test"  # only the sentiment columns are written
    assert {r.sentiment_label for r in rows} == {"Positive", "Negative", "Neutral"}
    untouched = stored(cassandra, keyspace, "Vancouver", DAY + timedelta(days=5)) + stored(
        cassandra, keyspace, "Burnaby", DAY
    )
    assert {r.sentiment_label for r in untouched} == {"Stale"}
    assert {r.sentiment_model for r in untouched} == {None}

    again = rescore_tweets(DAY, DAY, cities=["Vancouver"], model=VADER, page_size=7)
    assert (again.rows_read, again.rows_rescored, again.rows_skipped) == (25, 0, 25)
    forced = rescore_tweets(DAY, DAY, cities=["Vancouver"], model=VADER, force=True)
    assert forced.rows_rescored == 25
    assert stored(cassandra, keyspace, "Vancouver", DAY) == rows  # same values: idempotent


def test_rescore_refuses_a_reversed_or_huge_range_and_an_unknown_model(keyspace):
    with pytest.raises(ValueError, match="before start day"):
        rescore_tweets(DAY, DAY - timedelta(days=1))
    with pytest.raises(ValueError, match="at most"):
        rescore_tweets(date(2000, 1, 1), date(2026, 1, 1))
    with pytest.raises(ValueError, match="must be one of"):
        rescore_tweets(DAY, DAY, model="gpt")
