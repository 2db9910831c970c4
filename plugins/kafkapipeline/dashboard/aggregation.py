"""The numbers behind the dashboard, computed in Python from the rows of bounded hour-slice reads.

Cassandra cannot count rows per label (no clustering column), so rows are bucketed here per UTC hour;
an hour the read cut is flagged truncated with Cassandra's own count. No Cassandra or FastAPI here.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from kafkapipeline.dashboard.bounds import (
    DRAIN_BATCHES_TABLE,
    EARLIEST,
    LATEST,
    MAX_RANGE_DAYS,
    MAX_ROWS,
    CappedRows,
    TimeRange,
    floor_hour,
    rows_per_hour,
)
from kafkapipeline.dashboard.models import (
    DrainActivity,
    DrainTopicTotals,
    HashtagCount,
    HealthCheck,
    HealthFigure,
    PipelineStateResponse,
    ReadLimits,
    SentimentHour,
    SentimentWeatherResponse,
    SentimentWeatherSummary,
)
from kafkapipeline.health.report import CLUSTER_METRICS, PIPELINE_METRICS
from kafkapipeline.streams.tweets import TWEETS_TABLE
from kafkapipeline.streams.weather import WEATHER_TABLE
from kafkapipeline.times import utc

SENTIMENT_LABELS = ("positive", "negative", "neutral")
#: VADER's conventional compound-score thresholds; only used for a row whose label is missing.
VADER_POSITIVE_THRESHOLD = 0.05
VADER_NEGATIVE_THRESHOLD = -0.05
#: Fewer hours than this give a meaningless correlation.
MIN_CORRELATED_HOURS = 3
#: Hashtags the summary lists.
TOP_HASHTAGS = 10
#: The metrics with a panel of their own; the replication ones share the "cluster" table.
HEALTH_METRICS = PIPELINE_METRICS


def read_limits(time_range: TimeRange, tables: Iterable[str]) -> ReadLimits:
    """The bounds a request over ``time_range`` reads ``tables`` under, as the API reports them."""
    hours = len(time_range.hours())
    tables = list(tables)
    return ReadLimits(
        max_range_days=MAX_RANGE_DAYS,
        earliest=EARLIEST,
        latest=LATEST,
        max_rows={table: MAX_ROWS[table] for table in tables},
        rows_per_hour={table: rows_per_hour(table, hours) for table in tables},
    )


def as_capped(read: CappedRows | Iterable) -> CappedRows:
    """Plain rows (unit tests, small reads) as a read that hit no limit."""
    return read if isinstance(read, CappedRows) else CappedRows(list(read))


class TweetRow(Protocol):
    created_at: datetime
    sentiment_score: float | None
    sentiment_label: str | None
    sentiment_model: str | None
    sentiment_model_version: str | None
    hashtags: Iterable[str] | None


#: How rows written before migration 0009 (which added the model columns) were scored.
UNNAMED_MODEL = "vader (before models were recorded)"


def model_of(row: TweetRow) -> str:
    """``name version`` of the model that scored a row, as the dashboard shows it."""
    name = getattr(row, "sentiment_model", None)
    if not name:
        return UNNAMED_MODEL
    version = getattr(row, "sentiment_model_version", None)
    return f"{name} {version}" if version else name


class WeatherRow(Protocol):
    observed_at: datetime
    temperature_c: float | None
    description: str | None


class DrainBatchRow(Protocol):
    finished_at: datetime
    topic: str
    messages_read: int | None
    rows_written: int | None
    dead_lettered: int | None
    lag_after: int | None
    seconds: float | None


class HealthRow(Protocol):
    checked_at: datetime
    metric: str
    subject: str
    value: float | None
    status: str | None
    detail: str | None


def sentiment_class(label: str | None, score: float | None) -> str | None:
    """positive / negative / neutral from the stored label, else from the score; None if neither."""
    if label:
        normalised = label.strip().lower()
        if normalised in SENTIMENT_LABELS:
            return normalised
    if score is None or not math.isfinite(score):
        return None
    if score >= VADER_POSITIVE_THRESHOLD:
        return "positive"
    if score <= VADER_NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"


def percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def rounded_mean(values: list[float], digits: int) -> float | None:
    return round(statistics.fmean(values), digits) if values else None


def most_common_description(observations: list[tuple[datetime, str]]) -> str | None:
    """The most frequent description; a tie goes to the one observed last."""
    if not observations:
        return None
    counts = Counter(description for _, description in observations)
    last_seen = {description: moment for moment, description in sorted(observations)}
    return max(counts, key=lambda description: (counts[description], last_seen[description]))


@dataclass
class _SentimentBucket:
    positive: int = 0
    negative: int = 0
    neutral: int = 0

    def __post_init__(self) -> None:
        self.scores: list[float] = []
        self.temperatures: list[float] = []
        self.descriptions: list[tuple[datetime, str]] = []
        self.weather_reports = 0

    @property
    def tweets(self) -> int:
        return self.positive + self.negative + self.neutral

    def add_tweet(self, kind: str, score: float | None) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if score is not None and math.isfinite(score):
            self.scores.append(score)

    def add_weather(self, row: WeatherRow) -> None:
        self.weather_reports += 1
        if row.temperature_c is not None and math.isfinite(row.temperature_c):
            self.temperatures.append(row.temperature_c)
        if row.description:
            self.descriptions.append((utc(row.observed_at), row.description))


def sentiment_against_weather(
    city: str,
    tweets: CappedRows | Iterable[TweetRow],
    weather: CappedRows | Iterable[WeatherRow],
    time_range: TimeRange,
    *,
    keyspace: str,
) -> SentimentWeatherResponse:
    """Per UTC hour: share of positive/negative/neutral tweets and mean score, against temperature."""
    tweets, weather = as_capped(tweets), as_capped(weather)
    hours = time_range.hours()
    buckets = {hour: _SentimentBucket() for hour in hours}
    stored: Counter[datetime] = Counter()
    total = _SentimentBucket()
    latest_tweet: datetime | None = None
    latest_weather: datetime | None = None
    models: Counter[str] = Counter()
    hashtags: Counter[str] = Counter()

    start, end = time_range.start, time_range.end  # one pass over ~20,000 rows: each step once a row
    for row in tweets.rows:
        created_at = utc(row.created_at)
        if not start <= created_at < end:
            continue
        hour = floor_hour(created_at)
        stored[hour] += 1
        hashtags.update(getattr(row, "hashtags", None) or ())
        kind = sentiment_class(row.sentiment_label, row.sentiment_score)
        if kind is None:
            continue
        buckets[hour].add_tweet(kind, row.sentiment_score)
        total.add_tweet(kind, row.sentiment_score)
        models[model_of(row)] += 1
        latest_tweet = max(latest_tweet or created_at, created_at)
    for hour, count in tweets.capped.items():
        if count is not None:
            stored[hour] = max(stored[hour], count)

    for row in weather.rows:
        observed_at = utc(row.observed_at)
        if not start <= observed_at < end:
            continue
        buckets[floor_hour(observed_at)].add_weather(row)
        total.add_weather(row)
        latest_weather = max(latest_weather or observed_at, observed_at)

    truncated = set(tweets.capped) | set(weather.capped)
    hourly = [_sentiment_hour(hour, buckets[hour], stored[hour], hour in truncated) for hour in hours]
    paired = [
        (hour.mean_score, hour.temperature_c)
        for hour in hourly
        if hour.mean_score is not None and hour.temperature_c is not None
    ]
    summary = SentimentWeatherSummary(
        tweets=total.tweets,
        positive=total.positive,
        negative=total.negative,
        neutral=total.neutral,
        positive_pct=percent(total.positive, total.tweets),
        negative_pct=percent(total.negative, total.tweets),
        neutral_pct=percent(total.neutral, total.tweets),
        mean_score=rounded_mean(total.scores, 4),
        weather_reports=total.weather_reports,
        mean_temperature_c=rounded_mean(total.temperatures, 2),
        min_temperature_c=min(total.temperatures, default=None),
        max_temperature_c=max(total.temperatures, default=None),
        most_common_description=most_common_description(total.descriptions),
        latest_tweet_at=latest_tweet,
        latest_weather_at=latest_weather,
        score_temperature_correlation=correlation(paired),
        correlated_hours=len(paired),
        tweets_stored=sum(stored.values()),
        models=dict(models.most_common()),
        top_hashtags=top_hashtags(hashtags),
    )
    has_data = bool(total.tweets or total.weather_reports)
    return SentimentWeatherResponse(
        city=city,
        start=time_range.start,
        end=time_range.end,
        keyspace=keyspace,
        has_data=has_data,
        message=None if has_data else no_data_message(f"tweets or weather reports for {city}", time_range),
        truncated=bool(truncated),
        truncated_hours=len(truncated),
        limits=read_limits(time_range, (TWEETS_TABLE.name, WEATHER_TABLE.name)),
        summary=summary,
        hours=hourly,
    )


def _sentiment_hour(hour: datetime, bucket: _SentimentBucket, stored: int, truncated: bool) -> SentimentHour:
    return SentimentHour(
        hour=hour,
        tweets=bucket.tweets,
        positive=bucket.positive,
        negative=bucket.negative,
        neutral=bucket.neutral,
        positive_pct=percent(bucket.positive, bucket.tweets),
        negative_pct=percent(bucket.negative, bucket.tweets),
        neutral_pct=percent(bucket.neutral, bucket.tweets),
        mean_score=rounded_mean(bucket.scores, 4),
        weather_reports=bucket.weather_reports,
        temperature_c=rounded_mean(bucket.temperatures, 2),
        weather_description=most_common_description(bucket.descriptions),
        tweets_stored=stored,
        truncated=truncated,
    )


def top_hashtags(counts: Counter[str], limit: int = TOP_HASHTAGS) -> list[HashtagCount]:
    """The ``limit`` most used hashtags, most first, ties in alphabetical order (a stable list)."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [HashtagCount(hashtag=tag, tweets=count) for tag, count in ranked]


def correlation(pairs: list[tuple[float, float]]) -> float | None:
    """Pearson correlation of the pairs, or None when it would mean nothing."""
    if len(pairs) < MIN_CORRELATED_HOURS:
        return None
    try:
        return round(statistics.correlation([a for a, _ in pairs], [b for _, b in pairs]), 3)
    except statistics.StatisticsError:  # one side is constant
        return None


def no_data_message(what: str, time_range: TimeRange) -> str:
    return (
        f"No data yet: no {what} between {time_range.start:%Y-%m-%d %H:%M} and "
        f"{time_range.end:%Y-%m-%d %H:%M} UTC."
    )


def drain_activity(batches: CappedRows | Iterable[DrainBatchRow], time_range: TimeRange) -> DrainActivity:
    """Rows written, dead-lettered and batches per UTC hour and topic, plus per-topic totals."""
    hours = time_range.hours()
    index = {hour: position for position, hour in enumerate(hours)}
    rows_written: dict[str, list[int]] = defaultdict(lambda: [0] * len(hours))
    dead_lettered: dict[str, list[int]] = defaultdict(lambda: [0] * len(hours))
    batch_counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(hours))
    in_range: dict[str, list[DrainBatchRow]] = defaultdict(list)

    for row in as_capped(batches).rows:
        finished_at = utc(row.finished_at)
        if not time_range.contains(finished_at):
            continue
        position = index[floor_hour(finished_at)]
        rows_written[row.topic][position] += row.rows_written or 0
        dead_lettered[row.topic][position] += row.dead_lettered or 0
        batch_counts[row.topic][position] += 1
        in_range[row.topic].append(row)

    topics = sorted(in_range)
    return DrainActivity(
        hours=hours,
        topics=topics,
        rows_written={topic: rows_written[topic] for topic in topics},
        dead_lettered={topic: dead_lettered[topic] for topic in topics},
        batches={topic: batch_counts[topic] for topic in topics},
        totals=[_drain_totals(topic, in_range[topic]) for topic in topics],
    )


def _drain_totals(topic: str, rows: list[DrainBatchRow]) -> DrainTopicTotals:
    latest = max(rows, key=lambda row: utc(row.finished_at))
    durations = [row.seconds for row in rows if row.seconds is not None]
    return DrainTopicTotals(
        topic=topic,
        batches=len(rows),
        messages_read=sum(row.messages_read or 0 for row in rows),
        rows_written=sum(row.rows_written or 0 for row in rows),
        dead_lettered=sum(row.dead_lettered or 0 for row in rows),
        last_finished_at=utc(latest.finished_at),
        last_lag_after=latest.lag_after,
        mean_batch_seconds=rounded_mean(durations, 3),
    )


def natural_key(text: str) -> list[int | str]:
    """Sort ``tweets/10`` after ``tweets/9``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def health_check(rows: Iterable[HealthRow], *, now: datetime) -> HealthCheck:
    """Group the rows of the latest check by metric; rows of older checks are ignored."""
    rows = list(rows)
    checked_at = max((utc(row.checked_at) for row in rows), default=None)
    latest = [row for row in rows if utc(row.checked_at) == checked_at]
    groups: dict[str, list[HealthFigure]] = defaultdict(list)
    for row in sorted(latest, key=lambda row: (row.metric, natural_key(row.subject))):
        figure = HealthFigure(
            metric=row.metric, subject=row.subject, value=row.value, status=row.status, detail=row.detail
        )
        group = "cluster" if row.metric in CLUSTER_METRICS else row.metric
        groups[group if group in (*HEALTH_METRICS, "cluster") else "other"].append(figure)
    return HealthCheck(
        checked_at=checked_at,
        age_seconds=round((utc(now) - checked_at).total_seconds(), 1) if checked_at else None,
        status_counts=dict(Counter((row.status or "unknown") for row in latest)),
        **{metric: groups[metric] for metric in (*HEALTH_METRICS, "cluster", "other")},
    )


def pipeline_state(
    health_rows: Iterable[HealthRow],
    batches: CappedRows | Iterable[DrainBatchRow],
    time_range: TimeRange,
    *,
    now: datetime,
    keyspace: str,
) -> PipelineStateResponse:
    """The latest health check and the drains' activity in the range, with a note on what is missing."""
    health = health_check(health_rows, now=now)
    batches = as_capped(batches)
    drains = drain_activity(batches, time_range)
    missing = []
    if health.checked_at is None:
        missing.append("the pipeline_health DAG has not written a health check yet")
    if not drains.topics:
        missing.append(no_data_message("drain batch finished", time_range).removeprefix("No data yet: "))
    has_data = health.checked_at is not None or bool(drains.topics)
    return PipelineStateResponse(
        start=time_range.start,
        end=time_range.end,
        keyspace=keyspace,
        has_data=has_data,
        message=("No data yet: " + "; ".join(missing)) if missing else None,
        truncated=batches.truncated,
        truncated_hours=len(batches.capped),
        limits=read_limits(time_range, (DRAIN_BATCHES_TABLE,)),
        health=health,
        drains=drains,
    )
