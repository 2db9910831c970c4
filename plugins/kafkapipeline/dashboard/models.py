"""The JSON the dashboard's endpoints return, as pydantic models so FastAPI documents it (OpenAPI).

Percentages are 0-100, scores -1..1, temperatures °C, timestamps UTC; ``None`` means no data (a gap, not
zero). Every response states its read bounds (``limits``) and whether they cut anything (``truncated``).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from kafkapipeline.dashboard.bounds import MAX_CITIES


class SentimentHour(BaseModel):
    """Tweets and weather of one city in one UTC hour."""

    hour: datetime = Field(description="Start of the UTC hour")
    tweets: int = Field(description="Tweets with a sentiment in this hour")
    positive: int
    negative: int
    neutral: int
    positive_pct: float | None = Field(description="Share of positive tweets, percent (0-100)")
    negative_pct: float | None = Field(description="Share of negative tweets, percent (0-100)")
    neutral_pct: float | None = Field(description="Share of neutral tweets, percent (0-100)")
    mean_score: float | None = Field(description="Mean sentiment score (-1..1)")
    weather_reports: int = Field(description="Weather observations in this hour")
    temperature_c: float | None = Field(description="Mean temperature, degrees Celsius")
    weather_description: str | None = Field(description="Most frequent weather description")
    tweets_stored: int = Field(
        description="Tweets stored in this hour (Cassandra's count when the hour was truncated)"
    )
    truncated: bool = Field(
        description="More rows than limits.rows_per_hour (in a day holding more than its share): the "
        "shares, means and weather of this hour come from its newest rows, not from all of them"
    )


class HashtagCount(BaseModel):
    """One hashtag and how many of the range's tweets carry it."""

    hashtag: str = Field(description="Lower-case, without '#'")
    tweets: int


class SentimentWeatherSummary(BaseModel):
    """The whole range at a glance."""

    tweets: int
    positive: int
    negative: int
    neutral: int
    positive_pct: float | None
    negative_pct: float | None
    neutral_pct: float | None
    mean_score: float | None = Field(description="Mean sentiment score over all tweets (-1..1)")
    weather_reports: int
    mean_temperature_c: float | None
    min_temperature_c: float | None
    max_temperature_c: float | None
    most_common_description: str | None
    latest_tweet_at: datetime | None
    latest_weather_at: datetime | None
    score_temperature_correlation: float | None = Field(
        description="Pearson correlation of hourly mean score and hourly mean temperature "
        "(hours that have both; needs at least 3 such hours and some variation)"
    )
    correlated_hours: int = Field(description="Hours that have both tweets and weather")
    tweets_stored: int = Field(description="Tweets stored in the range, including truncated hours")
    models: dict[str, int] = Field(
        default_factory=dict,
        description="Tweets read per sentiment model that scored them ('name version'), most first",
    )
    top_hashtags: list[HashtagCount] = Field(
        default_factory=list,
        description="The range's most used hashtags, most first (ties alphabetical), at most 10",
    )


class ReadLimits(BaseModel):
    """The bounds every request is read under (constants of the dashboard's ``bounds`` module)."""

    max_range_days: int = Field(description="Longest range one request may ask for")
    earliest: datetime = Field(description="start and end may not lie before this")
    latest: datetime = Field(description="start and end may not lie after this")
    max_rows: dict[str, int] = Field(description="Per table: rows one request reads at most")
    rows_per_hour: dict[str, int] = Field(
        description="Per table: each UTC hour's share of max_rows in this range (max_rows / hours). "
        "A day whose rows fit its hours' shares is read whole; otherwise each of its hours is read "
        "up to its share, and an hour holding more is truncated"
    )


class SentimentWeatherResponse(BaseModel):
    city: str
    start: datetime
    end: datetime
    keyspace: str
    has_data: bool
    message: str | None = Field(description="Set when there is nothing to chart, says why")
    truncated: bool = Field(description="Some hour held more rows than limits.rows_per_hour")
    truncated_hours: int = Field(description="How many hours were truncated")
    limits: ReadLimits
    summary: SentimentWeatherSummary
    hours: list[SentimentHour] = Field(description="Every UTC hour of the range, oldest first")


class HealthFigure(BaseModel):
    """One row of the latest pipeline_health check."""

    metric: str
    subject: str
    value: float | None
    status: str | None = Field(description="ok / warn / fail against the configured thresholds")
    detail: str | None


class HealthCheck(BaseModel):
    """The latest check the pipeline_health DAG wrote, grouped by metric."""

    checked_at: datetime | None = Field(description="When the latest check ran; null if none has")
    age_seconds: float | None
    status_counts: dict[str, int] = Field(description="How many figures are ok / warn / fail")
    consumer_lag: list[HealthFigure] = Field(description="Messages behind, per topic/partition")
    rows_per_hour: list[HealthFigure] = Field(description="Rows written in the last hour, per table")
    dlq_messages: list[HealthFigure] = Field(description="Messages on each dead-letter topic")
    freshness_seconds: list[HealthFigure] = Field(description="Age of the newest row, per table")
    dag_last_run: list[HealthFigure] = Field(description="Latest run of each DAG; detail is its state")
    cluster: list[HealthFigure] = Field(
        description="Replication: under-replicated and leaderless partitions per topic, offline "
        "brokers, down Cassandra nodes (metric says which)"
    )
    other: list[HealthFigure] = Field(description="Figures of metrics this dashboard does not know")


class DrainTopicTotals(BaseModel):
    topic: str
    batches: int
    messages_read: int
    rows_written: int
    dead_lettered: int
    last_finished_at: datetime | None
    last_lag_after: int | None = Field(description="Consumer lag the latest batch left behind")
    mean_batch_seconds: float | None


class DrainActivity(BaseModel):
    """Committed drain micro-batches (drain_batches) per UTC hour and topic."""

    hours: list[datetime]
    topics: list[str]
    rows_written: dict[str, list[int]] = Field(description="Per topic, one count per hour")
    dead_lettered: dict[str, list[int]] = Field(description="Per topic, one count per hour")
    batches: dict[str, list[int]] = Field(description="Per topic, one count per hour")
    totals: list[DrainTopicTotals]


class PipelineStateResponse(BaseModel):
    start: datetime
    end: datetime
    keyspace: str
    has_data: bool
    message: str | None = Field(description="Set when there is nothing to show, says why")
    truncated: bool = Field(
        description="Some hour held more drain batches than limits.rows_per_hour: the drain figures "
        "of those hours are partial"
    )
    truncated_hours: int = Field(description="How many hours were truncated")
    limits: ReadLimits
    health: HealthCheck
    drains: DrainActivity


class CitiesResponse(BaseModel):
    cities: list[str] = Field(description=f"At most {MAX_CITIES} (bounds.MAX_CITIES), in configured order")
    default_city: str


class ErrorResponse(BaseModel):
    """Body of every 4xx/5xx the dashboard itself returns."""

    error: str = Field(
        description="cassandra_unreachable, schema_missing, configuration, internal, busy, invalid_range "
        "or invalid_request"
    )
    detail: str = Field(description="What is wrong and what to do about it (never a host or driver text)")
    request_id: str | None = Field(
        default=None, description="Where the api-server's log has the details of a 5xx (hosts, driver text)"
    )
