"""The typed settings object: types, defaults, errors naming the variable, call-time reads, precedence."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kafkapipeline import settings
from kafkapipeline.errors import ConfigurationError
from kafkapipeline.settings import ENV_NAMES, SettingsError

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(monkeypatch):
    """No KAFKAPIPELINE_* variable set: every setting at its default."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_when_nothing_is_set(clean_env):
    current = settings.current()
    assert current.model_fields_set == set()
    assert settings.keyspace() == "kafkapipeline"
    assert (settings.tweets_topic(), settings.weather_topic()) == ("tweets", "weather")
    assert settings.cities() == ["Vancouver"]
    assert settings.mastodon_hashtags() == ["Vancouver", "YVR", "VancouverBC"]
    assert settings.consumer_group("drain", "tweets") == "kafkapipeline.drain.tweets"
    assert settings.data_root() == REPO_ROOT / ".state" / "data"
    assert settings.cql_dir() == REPO_ROOT / "include" / "cql"
    assert settings.drain_setting("min_batch", 500) == 500
    assert (current.retention_days_tweets, current.health_max_lag, current.first_run_backfill_hours) == (
        0,
        10_000,
        24,
    )
    assert current.export_dir == "exports"


def test_values_are_parsed_to_their_types(clean_env, tmp_path):
    clean_env.setenv("KAFKAPIPELINE_CITIES", " Burnaby, Vancouver ,,Burnaby")
    clean_env.setenv("KAFKAPIPELINE_MASTODON_HASHTAGS", "#BCStorm, yvr")
    clean_env.setenv("KAFKAPIPELINE_RETENTION_DAYS_TWEETS", " 30 ")
    clean_env.setenv("KAFKAPIPELINE_DRAIN_MAX_WAIT_SECONDS", "2.6")  # rounded, as before
    clean_env.setenv("KAFKAPIPELINE_STATE", str(tmp_path))
    clean_env.setenv("KAFKAPIPELINE_HEALTH_DAGS", "a,b")
    current = settings.current()
    assert current.cities == ("Burnaby", "Vancouver")
    assert settings.mastodon_hashtags() == ["BCStorm", "yvr"]
    assert current.retention_days_tweets == 30
    assert settings.drain_setting("max_wait_seconds", 60) == 3
    assert current.state == tmp_path and settings.data_root() == tmp_path / "data"
    assert current.health_dags == ("a", "b")


def test_blank_values_count_as_unset(clean_env):
    for name in ("KAFKAPIPELINE_TWEETS_TOPIC", "KAFKAPIPELINE_CITIES", "KAFKAPIPELINE_DRAIN_MIN_BATCH"):
        clean_env.setenv(name, "  ")
    clean_env.setenv("KAFKAPIPELINE_DASHBOARD_CITIES", " , ,")
    assert settings.tweets_topic() == "tweets"
    assert settings.cities() == ["Vancouver"]
    assert settings.drain_setting("min_batch", 20) == 20
    assert settings.current().dashboard_cities == ()


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("KAFKAPIPELINE_RETENTION_DAYS_TWEETS", "a year", "expected integer >= 0"),
        ("KAFKAPIPELINE_RETENTION_DAYS_WEATHER_REPORTS", "-1", "greater than or equal to 0"),
        ("KAFKAPIPELINE_DRAIN_MIN_BATCH", "0", "expected integer >= 1"),
        ("KAFKAPIPELINE_HEALTH_MAX_LAG", "lots", "expected integer > 0"),
        ("KAFKAPIPELINE_REPLAY_TWEETS_PER_10_MINUTES", "5000", "less than or equal to 1000"),
        ("KAFKAPIPELINE_FIRST_RUN_BACKFILL_HOURS", "1 day", "expected integer >= 0"),
        ("KAFKAPIPELINE_KEYSPACE", "Bad-Name", "not a valid Cassandra keyspace name"),
    ],
)
def test_a_bad_value_names_the_variable_and_what_is_expected(clean_env, name, value, expected):
    clean_env.setenv(name, value)
    with pytest.raises(SettingsError, match=re.escape(f"{name}={value!r}")) as caught:
        settings.current()
    assert expected in str(caught.value)
    # A ValueError for callers that validate input, a ConfigurationError for the dashboard's 503.
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, ConfigurationError)


def test_every_bad_variable_is_reported_at_once(clean_env):
    clean_env.setenv("KAFKAPIPELINE_DRAIN_POLL_SECONDS", "soon")
    clean_env.setenv("KAFKAPIPELINE_HEALTH_MAX_FRESHNESS_SECONDS", "0")
    with pytest.raises(SettingsError) as caught:
        settings.tweets_topic()
    assert "KAFKAPIPELINE_DRAIN_POLL_SECONDS='soon'" in str(caught.value)
    assert "KAFKAPIPELINE_HEALTH_MAX_FRESHNESS_SECONDS='0'" in str(caught.value)


def test_the_environment_is_read_at_call_time_not_at_import(clean_env):
    assert settings.tweets_topic() == "tweets"
    clean_env.setenv("KAFKAPIPELINE_TWEETS_TOPIC", "first")
    assert settings.tweets_topic() == "first"
    clean_env.setenv("KAFKAPIPELINE_TWEETS_TOPIC", "second")
    assert settings.tweets_topic() == "second"
    clean_env.delenv("KAFKAPIPELINE_TWEETS_TOPIC")
    assert settings.tweets_topic() == "tweets"
    # A bad value fixed later is not remembered either.
    clean_env.setenv("KAFKAPIPELINE_GROUP_PREFIX", "p")
    clean_env.setenv("KAFKAPIPELINE_DRAIN_MIN_BATCH", "x")
    with pytest.raises(SettingsError):
        settings.consumer_group("drain", "t")
    clean_env.setenv("KAFKAPIPELINE_DRAIN_MIN_BATCH", "3")
    assert settings.consumer_group("drain", "t") == "p.drain.t"


def test_precedence_is_param_then_environment_then_default(clean_env, data_root):
    from kafkapipeline.csvio.export import export_dir_of
    from kafkapipeline.maintenance.retention import retention_days
    from kafkapipeline.sources.ingest import TWEETS_SCHEDULE_ENV, schedule_from_env

    assert settings.param_or_setting(None, "retention_days_tweets") == 0  # default
    assert retention_days("tweets") == 0
    assert export_dir_of(None) == data_root / "exports"
    assert schedule_from_env(TWEETS_SCHEDULE_ENV) == "*/10 * * * *"

    clean_env.setenv("KAFKAPIPELINE_RETENTION_DAYS_TWEETS", "400")
    clean_env.setenv("KAFKAPIPELINE_EXPORT_DIR", "nightly")
    clean_env.setenv("KAFKAPIPELINE_TWEETS_SCHEDULE", "*/5 * * * *")
    assert settings.param_or_setting("", "retention_days_tweets") == 400  # a blank Param is unset
    assert retention_days("tweets") == 400
    assert export_dir_of(None) == data_root / "nightly"
    assert schedule_from_env(TWEETS_SCHEDULE_ENV) == "*/5 * * * *"

    assert settings.param_or_setting(7, "retention_days_tweets") == 7  # the Param wins
    assert retention_days("tweets", 10) == 10
    assert export_dir_of("weekly") == data_root / "weekly"


def test_an_explicit_keyspace_wins_even_over_a_bad_variable(clean_env):
    clean_env.setenv("KAFKAPIPELINE_KEYSPACE", "x; DROP KEYSPACE system")
    assert settings.keyspace("given_one") == "given_one"


def test_the_dashboard_falls_back_to_the_pipeline_cities(clean_env):
    from kafkapipeline.dashboard.app import dashboard_cities

    clean_env.setenv("KAFKAPIPELINE_CITIES", "Surrey,Burnaby")
    assert dashboard_cities() == ["Surrey", "Burnaby"]
    clean_env.setenv("KAFKAPIPELINE_DASHBOARD_CITIES", "Richmond")
    assert dashboard_cities() == ["Richmond"]


def test_first_run_hours_come_from_the_setting_unless_given(clean_env, tmp_path):
    from devtools import first_run

    seen = []

    def fake_backfill(dag_ids, hours, marker, create):
        seen.append(hours)
        return []

    clean_env.setattr(first_run, "first_run_backfill", fake_backfill)
    clean_env.setattr(first_run, "cli_creator", lambda airflow: None)
    marker = str(tmp_path / "marker.json")
    assert first_run.main(["ingest_tweets", "--marker", marker, "--cli", "airflow"]) == 0
    clean_env.setenv("KAFKAPIPELINE_FIRST_RUN_BACKFILL_HOURS", "6")
    assert first_run.main(["ingest_tweets", "--marker", marker, "--cli", "airflow"]) == 0
    assert first_run.main(["ingest_tweets", "--hours", "2", "--marker", marker, "--cli", "airflow"]) == 0
    assert seen == [24, 6, 2]


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="no setting 'drain_batch_size'"):
        settings.drain_setting("batch_size", 1)
    with pytest.raises(ValueError, match="no setting"):
        settings.param_or_setting(None, "nope")
