"""The dashboard's numbers from known rows: hourly shares and means, drain throughput, latest health check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from kafkapipeline.dashboard.aggregation import (
    UNNAMED_MODEL,
    drain_activity,
    health_check,
    most_common_description,
    pipeline_state,
    sentiment_against_weather,
    sentiment_class,
)
from kafkapipeline.dashboard.bounds import (
    MAX_RANGE,
    MAX_ROWS,
    CappedRows,
    InvalidTimeRange,
    TimeRange,
    resolve_time_range,
    rows_per_hour,
)
from kafkapipeline.streams.registry import BY_TABLE


@dataclass
class Tweet:
    created_at: datetime
    sentiment_score: float | None
    sentiment_label: str | None
    sentiment_model: str | None = None
    sentiment_model_version: str | None = None
    hashtags: frozenset[str] | None = None


@dataclass
class Weather:
    observed_at: datetime
    temperature_c: float | None
    description: str | None


@dataclass
class Batch:
    finished_at: datetime
    topic: str
    messages_read: int | None
    rows_written: int | None
    dead_lettered: int | None
    lag_after: int | None
    seconds: float | None


@dataclass
class Health:
    checked_at: datetime
    metric: str
    subject: str
    value: float | None
    status: str | None
    detail: str | None = None


T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
RANGE = TimeRange(T0, T0 + timedelta(hours=3))


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_hourly_shares_and_mean_score_from_known_tweets():
    tweets = [
        Tweet(at(5), 0.6, "Positive"),
        Tweet(at(10), 0.2, "Positive"),
        Tweet(at(20), -0.5, "Negative"),
        Tweet(at(59), 0.0, "Neutral"),
        Tweet(at(130), -0.8, "Negative"),  # third hour; the second hour has no tweet
    ]
    result = sentiment_against_weather("Vancouver", tweets, [], RANGE, keyspace="ks")

    assert [hour.hour for hour in result.hours] == [T0, at(60), at(120)]
    first, second, third = result.hours
    assert (first.tweets, first.positive, first.negative, first.neutral) == (4, 2, 1, 1)
    assert (first.positive_pct, first.negative_pct, first.neutral_pct) == (50.0, 25.0, 25.0)
    assert first.mean_score == pytest.approx(0.075)  # (0.6 + 0.2 - 0.5 + 0.0) / 4
    assert second.tweets == 0
    assert second.positive_pct is None and second.mean_score is None
    assert (third.negative, third.negative_pct, third.mean_score) == (1, 100.0, -0.8)

    summary = result.summary
    assert (summary.tweets, summary.positive, summary.negative, summary.neutral) == (5, 2, 2, 1)
    assert (summary.positive_pct, summary.negative_pct, summary.neutral_pct) == (40.0, 40.0, 20.0)
    assert summary.mean_score == pytest.approx(-0.1)
    assert summary.latest_tweet_at == at(130)
    assert result.has_data and result.message is None


def test_the_summary_says_which_models_scored_the_tweets():
    at = T0 + timedelta(minutes=5)
    tweets = [
        Tweet(at, 0.5, "Positive", "ngram-logreg", "ca69b6631487"),
        Tweet(at, -0.5, "Negative", "ngram-logreg", "ca69b6631487"),
        Tweet(at, 0.1, "Positive", "vader", "3.3.2"),
        Tweet(at, 0.0, "Neutral"),  # written before migration 0009 recorded the model
    ]
    result = sentiment_against_weather("Vancouver", tweets, [], RANGE, keyspace="ks")
    assert result.summary.models == {
        "ngram-logreg ca69b6631487": 2,
        "vader 3.3.2": 1,
        "vader (before models were recorded)": 1,
    }
    assert list(result.summary.models) == ["ngram-logreg ca69b6631487", "vader 3.3.2", UNNAMED_MODEL]


def test_the_summary_lists_the_ranges_top_hashtags():
    at = T0 + timedelta(minutes=5)
    tags = [{"yvr", "rain"}, {"yvr"}, {"rain", "pnw"}, {"yvr"}, None, {"b"}, {"a"}]
    tweets = [Tweet(at, 0.1, "Positive", hashtags=frozenset(t) if t else None) for t in tags]
    tweets.append(Tweet(T0 - timedelta(hours=1), 0.1, "Positive", hashtags=frozenset({"outside"})))
    tweets += [Tweet(at, 0.1, "Positive", hashtags=frozenset({f"tag{i:02}"})) for i in range(12)]

    top = sentiment_against_weather("Vancouver", tweets, [], RANGE, keyspace="ks").summary.top_hashtags

    assert [(h.hashtag, h.tweets) for h in top[:4]] == [("yvr", 3), ("rain", 2), ("a", 1), ("b", 1)]
    assert len(top) == 10 and "outside" not in {h.hashtag for h in top}  # the range's, at most 10


def test_shares_are_rounded_percentages():
    tweets = [Tweet(at(1), 0.5, "Positive"), Tweet(at(2), 0.5, "Positive"), Tweet(at(3), -0.5, "Negative")]
    hour = sentiment_against_weather("X", tweets, [], RANGE, keyspace="ks").hours[0]
    assert (hour.positive_pct, hour.negative_pct) == (66.67, 33.33)


def test_hourly_weather_mean_temperature_and_most_frequent_description():
    weather = [
        Weather(at(0), 4.0, "light rain"),
        Weather(at(20), 5.0, "light rain"),
        Weather(at(40), 6.5, "overcast clouds"),
        Weather(at(70), -1.25, "snow"),
        Weather(at(75), None, "snow"),  # a report without temperature still counts as a report
    ]
    result = sentiment_against_weather("Vancouver", [], weather, RANGE, keyspace="ks")
    first, second, third = result.hours
    assert (first.weather_reports, first.temperature_c, first.weather_description) == (3, 5.17, "light rain")
    assert (second.weather_reports, second.temperature_c, second.weather_description) == (2, -1.25, "snow")
    assert (third.weather_reports, third.temperature_c, third.weather_description) == (0, None, None)
    summary = result.summary
    assert summary.weather_reports == 5
    assert summary.mean_temperature_c == pytest.approx(3.56)  # (4 + 5 + 6.5 - 1.25) / 4
    assert (summary.min_temperature_c, summary.max_temperature_c) == (-1.25, 6.5)
    assert summary.most_common_description == "snow"  # 2 light rain, 2 snow: the tie goes to the latest
    assert result.has_data


def test_description_tie_goes_to_the_latest_observation():
    observations = [(at(0), "rain"), (at(10), "fog"), (at(20), "rain"), (at(30), "fog")]
    assert most_common_description(observations) == "fog"
    assert most_common_description([(at(0), "rain"), (at(5), "rain"), (at(30), "fog")]) == "rain"
    assert most_common_description([]) is None


def test_rows_outside_the_range_are_ignored():
    tweets = [Tweet(T0 - timedelta(seconds=1), 0.9, "Positive"), Tweet(RANGE.end, 0.9, "Positive")]
    weather = [Weather(RANGE.end + timedelta(minutes=1), 20.0, "clear sky")]
    result = sentiment_against_weather("Vancouver", tweets, weather, RANGE, keyspace="ks")
    assert result.summary.tweets == 0 and result.summary.weather_reports == 0
    assert not result.has_data
    assert result.message == (
        "No data yet: no tweets or weather reports for Vancouver between 2026-03-01 10:00 and "
        "2026-03-01 13:00 UTC."
    )
    assert len(result.hours) == 3  # an empty range still has its hours, so the chart keeps its axis


@pytest.mark.parametrize(
    ("label", "score", "expected"),
    [
        ("Positive", -0.9, "positive"),  # the stored label wins over the score
        (" negative ", None, "negative"),
        ("NEUTRAL", 0.7, "neutral"),
        (None, 0.05, "positive"),
        (None, -0.05, "negative"),
        (None, 0.049, "neutral"),
        ("unknown-label", -0.3, "negative"),
        (None, None, None),
        (None, float("nan"), None),
    ],
)
def test_sentiment_class(label, score, expected):
    assert sentiment_class(label, score) == expected


def test_tweets_without_label_or_score_are_not_counted():
    tweets = [Tweet(at(1), None, None), Tweet(at(2), 0.3, None)]
    hour = sentiment_against_weather("X", tweets, [], RANGE, keyspace="ks").hours[0]
    assert (hour.tweets, hour.positive, hour.mean_score) == (1, 1, 0.3)


def test_score_temperature_correlation_needs_three_hours_with_both():
    tweets = [Tweet(at(m), s, None) for m, s in ((1, -0.5), (61, 0.0), (121, 0.5))]
    weather = [Weather(at(m), t, "clear sky") for m, t in ((2, 1.0), (62, 2.0), (122, 3.0))]
    summary = sentiment_against_weather("X", tweets, weather, RANGE, keyspace="ks").summary
    assert (summary.score_temperature_correlation, summary.correlated_hours) == (1.0, 3)

    summary = sentiment_against_weather("X", tweets[:2], weather, RANGE, keyspace="ks").summary
    assert (summary.score_temperature_correlation, summary.correlated_hours) == (None, 2)

    constant = [Weather(at(m), 5.0, "fog") for m in (2, 62, 122)]
    summary = sentiment_against_weather("X", tweets, constant, RANGE, keyspace="ks").summary
    assert summary.score_temperature_correlation is None


def test_naive_driver_timestamps_are_taken_as_utc():
    naive = datetime(2026, 3, 1, 10, 30)
    result = sentiment_against_weather("X", [Tweet(naive, 0.4, "Positive")], [], RANGE, keyspace="ks")
    assert result.hours[0].tweets == 1
    assert result.summary.latest_tweet_at == at(30)


def test_time_range_days_and_hours():
    time_range = TimeRange(datetime(2026, 3, 1, 22, 30, tzinfo=UTC), datetime(2026, 3, 3, 0, 0, tzinfo=UTC))
    assert time_range.days() == [date(2026, 3, 1), date(2026, 3, 2)]  # end is exclusive
    hours = time_range.hours()
    assert hours[0] == datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
    assert hours[-1] == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    assert len(hours) == 26


def test_resolve_time_range_defaults_to_the_last_24_hours():
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert resolve_time_range(None, None, now=now) == TimeRange(now - timedelta(hours=24), now)
    start = datetime(2026, 2, 28, 0, 0)  # naive input is UTC
    assert resolve_time_range(start, None, now=now).start == start.replace(tzinfo=UTC)


def test_resolve_time_range_rejects_inverted_and_too_long_ranges():
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with pytest.raises(InvalidTimeRange, match="must be before end"):
        resolve_time_range(now, now, now=now)
    with pytest.raises(InvalidTimeRange, match="spans 15 days; at most 14 days"):
        resolve_time_range(now - timedelta(days=15), now, now=now)
    assert resolve_time_range(now - timedelta(days=14), now, now=now).start == now - timedelta(days=14)


def test_drain_activity_per_hour_and_topic():
    batches = [
        Batch(at(5), "tweets", 10, 9, 1, 40, 0.5),
        Batch(at(25), "tweets", 20, 20, 0, 0, 1.5),
        Batch(at(65), "weather", 3, 3, 0, 0, 0.2),
        Batch(at(125), "tweets", 5, 4, 1, 7, None),
        Batch(T0 - timedelta(minutes=1), "tweets", 99, 99, 0, 0, 1.0),  # before the range
    ]
    activity = drain_activity(batches, RANGE)
    assert activity.topics == ["tweets", "weather"]
    assert activity.hours == [T0, at(60), at(120)]
    assert activity.rows_written == {"tweets": [29, 0, 4], "weather": [0, 3, 0]}
    assert activity.dead_lettered == {"tweets": [1, 0, 1], "weather": [0, 0, 0]}
    assert activity.batches == {"tweets": [2, 0, 1], "weather": [0, 1, 0]}
    tweets = activity.totals[0]
    assert (
        tweets.topic,
        tweets.batches,
        tweets.messages_read,
        tweets.rows_written,
        tweets.dead_lettered,
    ) == (
        "tweets",
        3,
        35,
        33,
        2,
    )
    assert (tweets.last_finished_at, tweets.last_lag_after, tweets.mean_batch_seconds) == (at(125), 7, 1.0)


def test_health_check_keeps_only_the_latest_check_grouped_by_metric():
    older, latest = at(0), at(30)
    rows = [
        Health(older, "consumer_lag", "tweets/0", 500, "fail"),
        Health(latest, "consumer_lag", "tweets/10", 3, "ok"),
        Health(latest, "consumer_lag", "tweets/2", 120, "warn"),
        Health(latest, "freshness_seconds", "tweets", 42.0, "ok"),
        Health(latest, "dlq_messages", "tweets.dlq", 2, "warn"),
        Health(latest, "dag_last_run", "drain_tweets", 1.0, "ok", "success"),
        Health(latest, "rows_per_hour", "weather_reports", 60, "ok"),
        Health(latest, "disk_usage", "node1", 0.5, None),
    ]
    check = health_check(rows, now=at(35))
    assert check.checked_at == latest
    assert check.age_seconds == 300.0
    assert [f.subject for f in check.consumer_lag] == ["tweets/2", "tweets/10"]  # natural order, older gone
    assert [f.value for f in check.consumer_lag] == [120, 3]
    assert check.freshness_seconds[0].value == 42.0
    assert check.dag_last_run[0].detail == "success"
    assert [f.metric for f in check.other] == ["disk_usage"]
    assert check.status_counts == {"ok": 4, "warn": 2, "unknown": 1}


def test_pipeline_state_with_nothing_says_no_data_yet():
    state = pipeline_state([], [], RANGE, now=RANGE.end, keyspace="ks")
    assert not state.has_data
    assert state.health.checked_at is None and state.health.consumer_lag == []
    assert state.drains.topics == [] and len(state.drains.hours) == 3
    assert state.message.startswith("No data yet: the pipeline_health DAG has not written a health check yet")
    assert "no drain batch finished between 2026-03-01 10:00 and 2026-03-01 13:00 UTC" in state.message


def test_hour_slices_are_clipped_to_the_range_and_never_cross_a_day():
    time_range = TimeRange(datetime(2026, 3, 1, 22, 30, tzinfo=UTC), datetime(2026, 3, 2, 1, 15, tzinfo=UTC))
    slices = time_range.hour_slices()
    assert [(part.day, part.start, part.end) for part in slices] == [
        (date(2026, 3, 1), datetime(2026, 3, 1, 22, 30, tzinfo=UTC), datetime(2026, 3, 1, 23, tzinfo=UTC)),
        (date(2026, 3, 1), datetime(2026, 3, 1, 23, tzinfo=UTC), datetime(2026, 3, 2, 0, tzinfo=UTC)),
        (date(2026, 3, 2), datetime(2026, 3, 2, 0, tzinfo=UTC), datetime(2026, 3, 2, 1, tzinfo=UTC)),
        (date(2026, 3, 2), datetime(2026, 3, 2, 1, tzinfo=UTC), datetime(2026, 3, 2, 1, 15, tzinfo=UTC)),
    ]
    assert [part.hour for part in slices] == time_range.hours()


def test_every_streams_table_has_a_read_bound():
    """A new stream's table needs its MAX_ROWS entry before the dashboard may read it."""
    assert set(BY_TABLE) - set(MAX_ROWS) == set()


@pytest.mark.parametrize("table", sorted(MAX_ROWS))
def test_a_request_reads_at_most_max_rows_whatever_its_range(table):
    now = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    for span in (timedelta(minutes=5), timedelta(hours=1), timedelta(days=3), MAX_RANGE):
        hours = len(resolve_time_range(now - span, now, now=now).hour_slices())
        assert 1 <= rows_per_hour(table, hours) * hours <= MAX_ROWS[table]
    widest = len(resolve_time_range(now - MAX_RANGE, now, now=now).hour_slices())
    assert widest == 14 * 24 + 1  # an unaligned 14-day range touches 337 hours
    assert rows_per_hour(table, widest) >= 50  # still a useful sample per hour


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (datetime(1969, 12, 31, 23, tzinfo=UTC), None, "start must lie between 1970-01-01 and 2100-01-01"),
        (None, datetime(2100, 1, 1, 1, tzinfo=UTC), "end must lie between"),
        (None, datetime(1, 1, 1), "end must lie between"),  # 24 hours before it do not exist
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))), None, "start must lie between"),
    ],
)
def test_resolve_time_range_rejects_times_outside_the_bounds(start, end, message):
    with pytest.raises(InvalidTimeRange, match=message):
        resolve_time_range(start, end, now=datetime(2026, 3, 1, tzinfo=UTC))


def test_truncated_hours_carry_cassandras_count_and_are_flagged():
    tweets = CappedRows(
        [Tweet(at(50), 0.5, "Positive"), Tweet(at(55), -0.5, "Negative"), Tweet(at(70), 0.1, "Positive")],
        limit=2,
        capped={T0: 40},  # the first hour holds 40 tweets, the two newest were read
    )
    weather = CappedRows([Weather(at(125), 3.0, "fog")], limit=1, capped={at(120): None})
    result = sentiment_against_weather("X", tweets, weather, RANGE, keyspace="ks")
    first, second, third = result.hours
    assert (first.truncated, first.tweets_stored, first.tweets, first.positive_pct) == (True, 40, 2, 50.0)
    assert (second.truncated, second.tweets_stored, second.tweets) == (False, 1, 1)
    assert (third.truncated, third.weather_reports, third.tweets_stored) == (True, 1, 0)  # count unknown
    assert (result.truncated, result.truncated_hours) == (True, 2)
    assert (result.summary.tweets, result.summary.tweets_stored) == (3, 41)
    assert result.limits.max_range_days == 14
    assert result.limits.rows_per_hour == {
        "tweets": rows_per_hour("tweets", 3),
        "weather_reports": rows_per_hour("weather_reports", 3),
    }


def test_an_untruncated_read_says_so_and_counts_every_stored_tweet():
    tweets = [Tweet(at(1), None, None), Tweet(at(2), 0.3, "Positive")]  # one without a sentiment
    result = sentiment_against_weather("X", tweets, [], RANGE, keyspace="ks")
    assert (result.truncated, result.truncated_hours) == (False, 0)
    assert (result.hours[0].tweets, result.hours[0].tweets_stored, result.hours[0].truncated) == (1, 2, False)


def test_pipeline_state_reports_truncated_drain_hours():
    batches = CappedRows([Batch(at(5), "tweets", 1, 1, 0, 0, 0.1)], limit=1, capped={T0: 9})
    state = pipeline_state([], batches, RANGE, now=RANGE.end, keyspace="ks")
    assert (state.truncated, state.truncated_hours) == (True, 1)
    assert state.limits.rows_per_hour == {"drain_batches": rows_per_hour("drain_batches", 3)}
    assert pipeline_state([], [], RANGE, now=RANGE.end, keyspace="ks").truncated is False
