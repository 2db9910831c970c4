"""Known rows for the dashboard's integration and browser tests, written straight into a test keyspace."""

from __future__ import annotations

from datetime import UTC, datetime


def insert_tweets(session, keyspace: str, city: str, tweets: list[tuple]) -> None:
    """(created_at, sentiment_score, sentiment_label[, hashtags]) per tweet; ids are derived from the time."""
    statement = session.prepare(
        f"INSERT INTO {keyspace}.tweets (city, day, created_at, tweet_id, text, sentiment_score, "
        "sentiment_label, hashtags, source, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'test', ?)"
    )
    rows = []
    for created_at, score, label, *hashtags in tweets:
        tweet_id = f"{city}-{created_at:%Y%m%d%H%M%S%f}"
        tags = set(hashtags[0]) if hashtags and hashtags[0] else None
        rows.append(
            (city, created_at.date(), created_at, tweet_id, f"tweet {tweet_id}", score, label, tags, now())
        )
    write(session, statement, rows)


def insert_weather(session, keyspace: str, city: str, reports: list[tuple[datetime, float, str]]) -> None:
    """(observed_at, temperature_c, description) per report."""
    statement = session.prepare(
        f"INSERT INTO {keyspace}.weather_reports (city, day, observed_at, temperature_c, description, "
        "provider, ingested_at) VALUES (?, ?, ?, ?, ?, 'test', ?)"
    )
    rows = [
        (city, observed_at.date(), observed_at, temperature, description, now())
        for observed_at, temperature, description in reports
    ]
    write(session, statement, rows)


def insert_health(session, keyspace: str, checked_at: datetime, figures: list[tuple]) -> None:
    """(metric, subject, value, status, detail) per figure, all of one check."""
    statement = session.prepare(
        f"INSERT INTO {keyspace}.pipeline_health (day, checked_at, metric, subject, value, status, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    for metric, subject, value, status, detail in figures:
        session.execute(statement, (checked_at.date(), checked_at, metric, subject, value, status, detail))


def insert_drain_batches(session, keyspace: str, batches: list[tuple]) -> None:
    """(finished_at, topic, messages_read, rows_written, dead_lettered, lag_after, seconds) per batch."""
    statement = session.prepare(
        f"INSERT INTO {keyspace}.drain_batches (day, finished_at, topic, batch_id, messages_read, "
        "rows_written, dead_lettered, lag_after, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    for finished_at, topic, read, written, dead, lag, seconds in batches:
        batch_id = f"{topic}-{finished_at:%Y%m%d%H%M%S%f}"
        session.execute(
            statement, (finished_at.date(), finished_at, topic, batch_id, read, written, dead, lag, seconds)
        )


def now() -> datetime:
    return datetime.now(UTC)


def write(session, statement, rows: list[tuple]) -> None:
    """Every row, 64 in flight at once (the load test writes tens of thousands); the first error raises."""
    from cassandra.concurrent import execute_concurrent_with_args

    execute_concurrent_with_args(session, statement, rows, concurrency=64)
