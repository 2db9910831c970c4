"""How a record becomes a row of the table the drain writes (columns: :mod:`kafkapipeline.streams`).

Rows are idempotent upserts keyed by natural ids (a tweet by city, day, created_at and
tweet id; a weather report by city, day and observed_at), so writing the same message twice
writes the same row. ``ingested_at`` is the time of the drain that wrote the row last: a
replay overwrites it, which is the only difference a replay makes. Split out of
:mod:`kafkapipeline.cassandra.writer`, which re-exports these names.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kafkapipeline import streams
from kafkapipeline.records import TweetRecord, WeatherRecord
from kafkapipeline.sentiment.scorers import default_scorer
from kafkapipeline.sentiment.vader import Sentiment
from kafkapipeline.streams import TableSpec

__all__ = ["TWEETS", "WEATHER_REPORTS", "TableSpec", "tweet_row", "tweet_rows", "weather_row", "weather_rows"]


#: What the drain writes to each table (:mod:`kafkapipeline.streams` defines the columns).
TWEETS: TableSpec = streams.TWEETS_TABLE.drain_spec
WEATHER_REPORTS: TableSpec = streams.WEATHER_TABLE.drain_spec


def tweet_row(
    record: TweetRecord,
    ingested_at: datetime | None,
    *,
    sentiment: Sentiment | None = None,
    model: tuple[str, str] | None = None,
) -> tuple[Any, ...]:
    """The ``tweets`` row of a tweet (columns in :data:`TWEETS` order).

    ``sentiment`` and ``model`` (name, version) are given when the text was scored in a batch
    (:func:`tweet_rows`) or when a row is restored as it was (the CSV import of an export, where
    an unknown model is left unset); otherwise the text is scored here with the default model.
    """
    if sentiment is None:
        scorer = default_scorer()
        sentiment = scorer.score_batch([record.text])[0]
        model = (scorer.name, scorer.version)
    model_name, model_version = model or (None, None)
    # Written out: twice as fast as operator.attrgetter; tests/unit/streams/test_streams.py checks the
    # order against streams.TWEETS_TABLE (the record's columns, then the drain's).
    return (
        record.city,
        record.day,
        record.created_at,
        record.tweet_id,
        record.text,
        record.lang,
        record.author_id,
        record.retweet_count,
        record.reply_count,
        record.like_count,
        record.quote_count,
        record.place_id,
        record.source,
        sentiment.score,
        sentiment.label,
        model_name,
        model_version,
        ingested_at,
    )


def tweet_rows(records: Sequence[TweetRecord], ingested_at: datetime | None) -> list[tuple[Any, ...]]:
    """The rows of a micro-batch of tweets, their texts scored in one batch by the default model."""
    scorer = default_scorer()
    scores = scorer.score_batch([record.text for record in records])
    model = (scorer.name, scorer.version)
    return [
        tweet_row(record, ingested_at, sentiment=sentiment, model=model)
        for record, sentiment in zip(records, scores, strict=True)
    ]


def weather_row(record: WeatherRecord, ingested_at: datetime | None) -> tuple[Any, ...]:
    """The ``weather_reports`` row of an observation, as it is (columns in :data:`WEATHER_REPORTS` order)."""
    # Written out (see tweet_row); the order is checked against streams.WEATHER_TABLE.
    return (
        record.city,
        record.day,
        record.observed_at,
        record.description,
        record.temperature_c,
        record.feels_like_c,
        record.temp_min_c,
        record.temp_max_c,
        record.pressure_hpa,
        record.humidity_pct,
        record.wind_speed_ms,
        record.sunrise,
        record.sunset,
        record.provider,
        ingested_at,
    )


def weather_rows(records: Sequence[WeatherRecord], ingested_at: datetime | None) -> list[tuple[Any, ...]]:
    """The rows of a micro-batch of observations."""
    return [weather_row(record, ingested_at) for record in records]
