"""Health thresholds, statuses and the log table, without services."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kafkapipeline.health.dag_runs import dag_last_run_figures
from kafkapipeline.health.report import (
    DEFAULT_DAG_IDS,
    FAIL,
    OK,
    WARN,
    HealthFigure,
    HealthReport,
    HealthThresholds,
)
from kafkapipeline.health.task import dag_ids_from

CHECKED_AT = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)


def test_thresholds_come_from_the_params_then_the_environment(monkeypatch):
    monkeypatch.delenv("KAFKAPIPELINE_HEALTH_MAX_LAG", raising=False)
    monkeypatch.delenv("KAFKAPIPELINE_HEALTH_MAX_FRESHNESS_SECONDS", raising=False)
    assert HealthThresholds.from_env() == HealthThresholds(10_000, 3_600)

    monkeypatch.setenv("KAFKAPIPELINE_HEALTH_MAX_LAG", "50")
    monkeypatch.setenv("KAFKAPIPELINE_HEALTH_MAX_FRESHNESS_SECONDS", "120")
    assert HealthThresholds.from_env() == HealthThresholds(50, 120)
    assert HealthThresholds.from_env(max_lag=7, max_freshness_seconds="") == HealthThresholds(7, 120)

    monkeypatch.setenv("KAFKAPIPELINE_HEALTH_MAX_LAG", "lots")
    with pytest.raises(ValueError, match="KAFKAPIPELINE_HEALTH_MAX_LAG='lots'"):
        HealthThresholds.from_env()
    with pytest.raises(ValueError, match=r"max_freshness_seconds\s+Input should be greater than 0"):
        HealthThresholds(max_lag=1, max_freshness_seconds=0)


def test_only_lag_and_freshness_failures_fail_the_check():
    report = HealthReport(checked_at=CHECKED_AT, thresholds=HealthThresholds())
    report.figures = [
        HealthFigure("consumer_lag", "tweets/0", 12.0, FAIL, "above max_lag"),
        HealthFigure("consumer_lag", "tweets/1", 0.0, OK),
        HealthFigure("dlq_messages", "tweets.dlq", 3.0, WARN),
        HealthFigure("rows_per_hour", "*", 0.0, FAIL, "unreadable"),
        HealthFigure("freshness_seconds", "weather_reports", 7200.5, FAIL),
        HealthFigure("dag_last_run", "drain_tweets", 60.0, WARN, "failed (scheduled, ...)"),
    ]
    assert [(f.metric, f.subject) for f in report.failures] == [
        ("consumer_lag", "tweets/0"),
        ("freshness_seconds", "weather_reports"),
    ]
    assert report.as_dict()["failures"] == [
        "consumer_lag tweets/0: above max_lag",
        "freshness_seconds weather_reports: ",
    ]


def test_the_log_table_lines_up_and_shouts_problems():
    report = HealthReport(checked_at=CHECKED_AT, thresholds=HealthThresholds())
    report.figures = [
        HealthFigure("consumer_lag", "tweets/0", 12345.0, FAIL, "above"),
        HealthFigure("freshness_seconds", "weather_reports", 61.25, OK, "newest ..."),
    ]
    lines = report.table().splitlines()
    assert lines[0].split() == ["metric", "subject", "value", "status", "detail"]
    assert set(lines[1]) == {"-"}
    assert lines[2].split() == ["consumer_lag", "tweets/0", "12,345", "FAIL", "above"]
    assert lines[3].split() == ["freshness_seconds", "weather_reports", "61.2", "ok", "newest", "..."]
    assert lines[2].index("12,345") + len("12,345") == lines[3].index("61.2") + len("61.2")  # right-aligned


def test_dag_ids_from_param_env_or_defaults(monkeypatch):
    monkeypatch.delenv("KAFKAPIPELINE_HEALTH_DAGS", raising=False)
    assert dag_ids_from(None) == list(DEFAULT_DAG_IDS)
    assert dag_ids_from(["a", " b ", "a", ""]) == ["a", "b"]
    monkeypatch.setenv("KAFKAPIPELINE_HEALTH_DAGS", "x, y")
    assert dag_ids_from([]) == ["x", "y"]


def test_last_runs_without_the_api_connection_are_one_warning_naming_it(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_AIRFLOW_API_DEFAULT", raising=False)
    figures, note = dag_last_run_figures(["drain_tweets"], CHECKED_AT)
    (figure,) = figures
    assert (figure.metric, figure.subject, figure.value, figure.status) == ("dag_last_run", "*", 0.0, WARN)
    assert figure.detail.startswith("unavailable: the Airflow connection 'airflow_api_default' is not set")
    assert "AIRFLOW_CONN_AIRFLOW_API_DEFAULT" in figure.detail
    assert note == f"dag_last_run {figure.detail}"
    report = HealthReport(checked_at=CHECKED_AT, thresholds=HealthThresholds(), figures=figures)
    assert report.failures == []  # a warning, never a failure of the check
