"""What the drain, the lag readings, the health check and the sources' HTTP retries send, and that
statsd_exporter's mapping gives every line a Prometheus name of the right type."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from kafkapipeline.drain.metrics import report_batch
from kafkapipeline.drain.summary import DEAD_LETTER_CASSANDRA, DEAD_LETTER_INVALID, DrainSummary
from kafkapipeline.health.report import FAIL, OK, WARN, HealthFigure, HealthReport, HealthThresholds
from kafkapipeline.health.task import report_figures
from kafkapipeline.kafka.lag import PartitionLag, TopicLag
from kafkapipeline.metrics import names
from kafkapipeline.metrics.statsd import emitting
from kafkapipeline.sentiment.scorers import default_scorer
from kafkapipeline.sources.base import SourceUnavailable
from kafkapipeline.sources.http_client import RetryPolicy
from kafkapipeline.sources.http_retry import RateLimited, RateLimits, RetriableFailure, error_kind, http_retry
from kafkapipeline.streams.tweets import TWEETS
from kafkapipeline.streams.weather import WEATHER
from tests.metric_names import mapping
from tests.unit.metrics.conftest import parse

log = logging.getLogger("test_emitters")


def by_name(lines: list[str]) -> dict[str, list[tuple[float, str, dict[str, str]]]]:
    found: dict[str, list[tuple[float, str, dict[str, str]]]] = {}
    for line in lines:
        name, value, kind, tags = parse(line)
        found.setdefault(name, []).append((value, kind, tags))
    return found


def committed_summary() -> DrainSummary:
    summary = DrainSummary(topic="tweets-x", stream="tweets", group_id="kafkapipeline-drain-tweets-x")
    summary.messages_read, summary.rows_written, summary.dead_lettered = 1000, 990, 10
    summary.dead_letter_reasons = {DEAD_LETTER_INVALID: 8, DEAD_LETTER_CASSANDRA: 2}
    summary.seconds, summary.committed = 0.5, True
    return summary


def test_a_committed_batch_sends_its_figures_in_one_datagram(statsd):
    lag_after = [PartitionLag(0, 500, 0, 503), PartitionLag(1, 700, 0, 700)]
    report_batch(committed_summary(), TWEETS, lag_after=lag_after, freshness=[1.5, 4.0])
    datagrams = statsd.datagrams()
    assert len(datagrams) == 1
    sent = by_name(datagrams[0].decode().split("\n"))
    topic = {"topic": "tweets-x"}
    assert sent[names.DRAIN_BATCHES] == [(1, "c", {**topic, "outcome": "committed"})]
    assert sent[names.DRAIN_MESSAGES_READ] == [(1000, "c", topic)]
    assert sent[names.DRAIN_ROWS_WRITTEN] == [(990, "c", {**topic, "table": "tweets"})]
    assert sorted((v, t["reason"]) for v, _, t in sent[names.DRAIN_DEAD_LETTERS]) == [
        (2, "cassandra_refused"),
        (8, "invalid_value"),
    ]
    assert sent[names.DRAIN_BATCH_MESSAGES] == [(1000, "h", topic)]
    assert sent[names.DRAIN_MESSAGES_PER_SECOND] == [(2000, "g", topic)]
    assert [v for v, kind, _ in sent[names.DRAIN_FRESHNESS_SECONDS] if kind == "h"] == [1.5, 4.0]
    scorer = default_scorer()
    assert sent[names.SCORED_ROWS] == [(990, "c", {"model": scorer.name, "version": scorer.version})]
    lag = {(t["partition"], v) for v, _, t in sent[names.CONSUMER_LAG_MESSAGES]}
    assert lag == {("0", 3), ("1", 0)}
    assert all(t["group"] == "kafkapipeline-drain-tweets-x" for _, _, t in sent[names.CONSUMER_LAG_MESSAGES])
    # Seconds behind: 0 where nothing is pending; unknown (not sent) where the age was not read.
    assert [(t["partition"], v) for v, _, t in sent[names.CONSUMER_LAG_SECONDS]] == [("1", 0)]


def test_a_stream_without_a_model_sends_no_scored_rows(statsd):
    summary = committed_summary()
    summary.topic, summary.stream = "weather", "weather"
    report_batch(summary, WEATHER)
    sent = by_name(statsd.lines())
    assert names.SCORED_ROWS not in sent
    assert sent[names.DRAIN_ROWS_WRITTEN] == [(990, "c", {"topic": "weather", "table": "weather_reports"})]


def test_a_failed_batch_sends_only_that_it_failed(statsd):
    report_batch(committed_summary(), TWEETS, failed=True)
    assert by_name(statsd.lines()) == {
        names.DRAIN_BATCHES: [(1, "c", {"topic": "tweets-x", "outcome": "failed"})]
    }


def test_an_empty_batch_counts_as_empty_and_observes_no_size(statsd):
    report_batch(DrainSummary(topic="t", stream="tweets", group_id="g"), TWEETS)
    sent = by_name(statsd.lines())
    assert sent[names.DRAIN_BATCHES] == [(1, "c", {"topic": "t", "outcome": "empty"})]
    assert names.DRAIN_BATCH_MESSAGES not in sent and names.DRAIN_FRESHNESS_SECONDS not in sent


def test_a_lag_reading_with_ages_sends_seconds_behind_per_partition(statsd):
    reading = TopicLag(
        "tweets",
        "g",
        (PartitionLag(0, 10, 0, 15, oldest_timestamp_ms=90_000), PartitionLag(1, 5, 0, 5)),
        100.0,
    )
    with emitting() as out:
        reading.report(out)
    sent = by_name(statsd.lines())
    assert {(t["partition"], v) for v, _, t in sent[names.CONSUMER_LAG_SECONDS]} == {("0", 10.0), ("1", 0)}
    assert {(t["partition"], v) for v, _, t in sent[names.CONSUMER_LAG_MESSAGES]} == {("0", 5), ("1", 0)}


def test_health_figures_send_their_value_and_status(statsd):
    report = HealthReport(checked_at=datetime(2026, 3, 1, tzinfo=UTC), thresholds=HealthThresholds())
    report.figures = [
        HealthFigure("consumer_lag", "tweets/0", 12.0, OK),
        HealthFigure("dlq_messages", "tweets.dlq", 3.0, WARN),
        HealthFigure("freshness_seconds", "tweets", 9000.0, FAIL),
    ]
    report_figures(report)
    sent = by_name(statsd.lines())
    status = {(t["metric"], t["subject"]): v for v, _, t in sent[names.HEALTH_STATUS]}
    assert status == {
        ("consumer_lag", "tweets/0"): 0,
        ("dlq_messages", "tweets.dlq"): 1,
        ("freshness_seconds", "tweets"): 2,
    }
    assert {v for v, _, _ in sent[names.HEALTH_VALUE]} == {12.0, 3.0, 9000.0}


def test_http_failures_and_rate_limit_waits_are_counted_by_source(statsd):
    answers = iter([RetriableFailure("HTTP 503"), RetriableFailure("ReadTimeout"), RateLimited(7.0), "page"])

    def attempt() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    policy = RetryPolicy(timeout=1.0, max_attempts=3, backoff_seconds=0.0)
    retrying = http_retry(
        policy, "p", log, source="x_api", sleep=lambda _: None, rate_limits=RateLimits(60.0, 2)
    )
    assert retrying(attempt) == "page"
    sent = by_name(statsd.lines())
    assert sorted(t["reason"] for _, _, t in sent[names.SOURCE_HTTP_ERRORS]) == ["http_503", "timeout"]
    assert all(t["source"] == "x_api" for _, _, t in sent[names.SOURCE_HTTP_ERRORS])
    assert sent[names.SOURCE_RATE_LIMIT_WAITS] == [(1, "c", {"source": "x_api"})]
    assert sent[names.SOURCE_RATE_LIMIT_WAIT_SECONDS] == [(7.0, "c", {"source": "x_api"})]


def test_a_rate_limit_given_up_on_is_no_wait(statsd):
    def attempt() -> str:
        raise RateLimited(600.0)

    policy = RetryPolicy(timeout=1.0, max_attempts=3, backoff_seconds=0.0)
    with pytest.raises(SourceUnavailable):
        http_retry(
            policy, "p", log, source="mastodon", sleep=lambda _: None, rate_limits=RateLimits(60.0, 2)
        )(attempt)
    assert names.SOURCE_RATE_LIMIT_WAITS not in by_name(statsd.lines(wait=0.2))


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("HTTP 503", "http_503"),
        ("HTTP 200 with a body that is not JSON", "not_json"),
        ("JSONDecodeError", "not_json"),
        ("ReadTimeout", "timeout"),
        ("ConnectionError", "connection"),
        ("Something Odd!", "something_odd"),
    ],
)
def test_failure_reasons_become_bounded_labels(reason, kind):
    assert error_kind(reason) == kind


def test_every_name_sent_has_a_mapping_of_the_type_it_is_sent_as(statsd):
    """Drive every emitter, then hold each line against deploy/prometheus/statsd-mapping.yml."""
    report_batch(committed_summary(), TWEETS, lag_after=[PartitionLag(0, 2, 0, 2)], freshness=[1.0])
    report = HealthReport(checked_at=datetime(2026, 3, 1, tzinfo=UTC), thresholds=HealthThresholds())
    report.figures = [HealthFigure("consumer_lag", "t/0", 1.0, OK)]
    report_figures(report)
    answers = iter([RetriableFailure("HTTP 500"), RateLimited(1.0), "ok"])

    def attempt() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    http_retry(
        RetryPolicy(1.0, 3, 0.0), "p", log, source="s", sleep=lambda _: None, rate_limits=RateLimits(9, 9)
    )(attempt)
    entries = {entry["match"]: entry for entry in mapping()}
    sent = by_name(statsd.lines())
    assert set(names.ALL) - {names.INGEST_RECORDS_PRODUCED} <= set(sent), "an emitter above stopped sending"
    for name, observations in sent.items():
        entry = entries.get(name)
        assert entry is not None, f"{name} has no mapping: it would reach Prometheus under a default name"
        for _, kind, _ in observations:
            if kind == "c":
                assert entry["name"].endswith("_total"), name
            elif kind == "h":
                assert "histogram_options" in entry, f"{name} is observed but not mapped to a histogram"
            else:
                assert kind == "g" and not entry["name"].endswith("_total"), name


def test_every_name_has_one_mapping():
    matches = [entry["match"] for entry in mapping()]
    assert len(matches) == len(set(matches))
    assert set(names.ALL) <= set(matches)
    prometheus = [entry["name"] for entry in mapping()]
    assert len(prometheus) == len(set(prometheus))
