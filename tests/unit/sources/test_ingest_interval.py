"""What a run covers: its data interval, or the last schedule period for an empty one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable

from kafkapipeline.sources.ingest import interval_for_run, schedule_from_env

T = datetime(2026, 11, 20, 12, 10, tzinfo=UTC)


def test_a_real_data_interval_is_used_as_is():
    start = pendulum.datetime(2026, 11, 20, 12, 0, tz="UTC")
    interval = interval_for_run(start, start.add(minutes=10), start, None)
    assert (interval.start, interval.end) == (T - timedelta(minutes=10), T)
    assert type(interval.start) is datetime  # pendulum values are normalised


def test_an_empty_interval_covers_the_schedule_period_ending_at_the_logical_date():
    hourly = CronDataIntervalTimetable("0 * * * *", timezone="UTC")
    interval = interval_for_run(T, T, T, hourly)
    assert (interval.start, interval.end) == (T - timedelta(hours=1), T)

    every_ten = CronDataIntervalTimetable("*/10 * * * *", timezone="UTC")
    interval = interval_for_run(None, None, T, every_ten)
    assert (interval.start, interval.end) == (T - timedelta(minutes=10), T)


def test_without_a_cron_the_fallback_period_is_ten_minutes():
    interval = interval_for_run(T, T, T, None)
    assert interval.end - interval.start == timedelta(minutes=10)


def test_a_run_without_logical_date_covers_the_last_complete_period_before_it_ran():
    every_ten = CronDataIntervalTimetable("*/10 * * * *", timezone="UTC")
    run_after = T + timedelta(minutes=4, seconds=12)
    interval = interval_for_run(None, None, None, every_ten, run_after)
    assert (interval.start, interval.end) == (T - timedelta(minutes=10), T)
    on_the_tick = interval_for_run(None, None, None, every_ten, T)
    assert (on_the_tick.start, on_the_tick.end) == (T - timedelta(minutes=10), T)


def test_schedule_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("KAFKAPIPELINE_TWEETS_SCHEDULE", raising=False)
    assert schedule_from_env("KAFKAPIPELINE_TWEETS_SCHEDULE") == "*/10 * * * *"
    monkeypatch.setenv("KAFKAPIPELINE_TWEETS_SCHEDULE", "*/5 * * * *")
    assert schedule_from_env("KAFKAPIPELINE_TWEETS_SCHEDULE") == "*/5 * * * *"
