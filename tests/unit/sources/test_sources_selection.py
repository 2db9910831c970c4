"""Which source a run uses: the API when its connection is set, the replay otherwise, or what the run asks."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk import Connection

from kafkapipeline.errors import ConfigurationError
from kafkapipeline.sources.base import Interval
from kafkapipeline.sources.mastodon import MastodonTweetSource
from kafkapipeline.sources.openmeteo import OpenMeteoSource
from kafkapipeline.sources.openweathermap import OpenWeatherMapSource
from kafkapipeline.sources.replay import ReplayTweetSource, ReplayWeatherSource
from kafkapipeline.sources.selection import TweetOptions, resolve_tweet_source, resolve_weather_source
from kafkapipeline.sources.x_api import XApiTweetSource

NOW = datetime(2026, 11, 20, 12, 0, 30, tzinfo=UTC)
JUST_ENDED = Interval(NOW - timedelta(minutes=10, seconds=30), NOW - timedelta(seconds=30))
LAST_WEEK = Interval(NOW - timedelta(days=7), NOW - timedelta(days=7) + timedelta(minutes=10))


def connections(**by_id: Connection):
    return by_id.get


def no_connections(conn_id: str):
    return None


X_CONN = Connection(conn_id="x_api_default", conn_type="generic", password="tok")
OWM_CONN = Connection(conn_id="openweathermap_default", conn_type="generic", password="key")
MASTODON_CONN = Connection(conn_id="mastodon_default", conn_type="http", host="https://mastodon.social")


def test_tweets_default_to_replay_when_the_connection_is_not_set(caplog):
    caplog.set_level(logging.INFO)
    choice = resolve_tweet_source("auto", get_connection=no_connections)

    assert isinstance(choice.source, ReplayTweetSource)
    assert choice.reason == (
        "connections x_api_default and mastodon_default not set: using the built-in replay source"
    )
    assert choice.reason in caplog.text


def test_tweets_use_the_api_when_the_connection_is_set():
    choice = resolve_tweet_source(
        "auto", TweetOptions(query="rain", max_pages=2), get_connection=connections(x_api_default=X_CONN)
    )
    assert isinstance(choice.source, XApiTweetSource)
    assert (choice.source.query, choice.source.max_pages) == ("rain", 2)
    assert "x_api_default is set" in choice.reason


def test_bearer_token_may_live_in_the_extra():
    conn = Connection(conn_id="x_api_default", conn_type="generic", extra=json.dumps({"bearer_token": "t"}))
    choice = resolve_tweet_source("x", get_connection=connections(x_api_default=conn))
    assert isinstance(choice.source, XApiTweetSource)


def test_a_defined_connection_without_a_secret_is_an_error_not_a_silent_replay():
    empty = Connection(conn_id="x_api_default", conn_type="generic")
    with pytest.raises(ConfigurationError, match="x_api_default' is defined but holds no secret"):
        resolve_tweet_source("auto", get_connection=connections(x_api_default=empty))


def test_forcing_a_source():
    both = connections(x_api_default=X_CONN, mastodon_default=MASTODON_CONN)
    assert isinstance(resolve_tweet_source("replay", get_connection=both).source, ReplayTweetSource)
    assert isinstance(resolve_tweet_source("x", get_connection=both).source, XApiTweetSource)
    forced = resolve_tweet_source("mastodon", get_connection=both)
    assert isinstance(forced.source, MastodonTweetSource)
    assert (
        forced.reason
        == "connection mastodon_default is set: using Mastodon mastodon.social (source=mastodon)"
    )
    # "api" is the older name of "x"
    assert isinstance(resolve_tweet_source("api", get_connection=both).source, XApiTweetSource)
    with pytest.raises(ValueError, match="auto, x, mastodon, replay"):
        resolve_tweet_source("twitter", get_connection=no_connections)


def test_a_forced_source_without_its_connection_names_the_connection_to_set():
    with pytest.raises(ConfigurationError, match="connection 'x_api_default' is not defined") as x_error:
        resolve_tweet_source("x", get_connection=connections(mastodon_default=MASTODON_CONN))
    assert "AIRFLOW_CONN_X_API_DEFAULT=" in str(x_error.value)
    with pytest.raises(ConfigurationError, match="connection 'mastodon_default' is not defined") as m_error:
        resolve_tweet_source("mastodon", get_connection=connections(x_api_default=X_CONN))
    assert (
        'AIRFLOW_CONN_MASTODON_DEFAULT=\'{"conn_type": "http", "host": "https://mastodon.social"}\''
        in str(m_error.value)
    )


def test_auto_uses_mastodon_when_only_its_connection_is_set():
    choice = resolve_tweet_source(
        "auto", TweetOptions(city="Burnaby"), get_connection=connections(mastodon_default=MASTODON_CONN)
    )
    assert isinstance(choice.source, MastodonTweetSource)
    assert (choice.source.base_url, choice.source.city) == ("https://mastodon.social", "Burnaby")
    assert choice.source.hashtags == ["Vancouver", "YVR", "VancouverBC"]
    assert choice.reason == (
        "connection mastodon_default is set and x_api_default is not: "
        "using Mastodon mastodon.social (source=auto)"
    )


def test_auto_with_both_connections_uses_x_and_says_how_to_get_mastodon():
    choice = resolve_tweet_source(
        "auto", get_connection=connections(x_api_default=X_CONN, mastodon_default=MASTODON_CONN)
    )
    assert isinstance(choice.source, XApiTweetSource)
    assert "mastodon_default is set too: X wins in auto, trigger with source=mastodon" in choice.reason


def test_a_mastodon_connection_without_a_host_is_an_error_not_a_silent_replay():
    no_host = Connection(conn_id="mastodon_default", conn_type="http")
    with pytest.raises(ConfigurationError, match="'mastodon_default' needs the instance URL in its host"):
        resolve_tweet_source("auto", get_connection=connections(mastodon_default=no_host))


def test_x_api_module_does_not_import_selection():
    """selection imports x_api (lazily); x_api importing selection back made an import cycle."""
    import ast
    import inspect

    from kafkapipeline.sources import mastodon, x_api

    for module in (x_api, mastodon):
        tree = ast.parse(inspect.getsource(module))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "kafkapipeline.sources.selection" not in imported, module.__name__


def test_connection_is_looked_up_through_airflow(monkeypatch):
    """The real look-up: an AIRFLOW_CONN_ variable switches the source, its absence means replay."""
    monkeypatch.delenv("AIRFLOW_CONN_X_API_DEFAULT", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_MASTODON_DEFAULT", raising=False)
    assert resolve_tweet_source("auto").source.name == "replay"
    monkeypatch.setenv(
        "AIRFLOW_CONN_X_API_DEFAULT", json.dumps({"conn_type": "generic", "password": "from-env"})
    )
    assert resolve_tweet_source("auto").source.name == "x_api"


def test_mastodon_connection_is_looked_up_through_airflow(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_X_API_DEFAULT", raising=False)
    monkeypatch.setenv(
        "AIRFLOW_CONN_MASTODON_DEFAULT",
        json.dumps(
            {
                "conn_type": "http",
                "host": "https://fosstodon.org",
                "password": "tok-from-env",
                "extra": {"hashtags": ["BCwx"], "local_timeline": True},
            }
        ),
    )
    source = resolve_tweet_source("auto").source
    assert isinstance(source, MastodonTweetSource)
    assert (source.host, source.hashtags, source.local_timeline) == ("fosstodon.org", ["BCwx"], True)
    assert "with an access token" in source.describe()


def test_weather_defaults_to_replay_when_the_connection_is_not_set():
    choice = resolve_weather_source(
        "auto", cities=["Vancouver"], interval=JUST_ENDED, now=NOW, get_connection=no_connections
    )
    assert isinstance(choice.source, ReplayWeatherSource)
    assert choice.reason == "connection openweathermap_default not set: using the built-in replay source"


def test_weather_uses_openweathermap_for_an_interval_that_just_ended():
    choice = resolve_weather_source(
        "auto",
        cities=["Vancouver"],
        interval=JUST_ENDED,
        now=NOW,
        get_connection=connections(openweathermap_default=OWM_CONN),
    )
    assert isinstance(choice.source, OpenWeatherMapSource)


def test_weather_uses_open_meteo_for_past_intervals_even_with_a_key():
    choice = resolve_weather_source(
        "auto",
        cities=["Vancouver"],
        interval=LAST_WEEK,
        now=NOW,
        get_connection=connections(openweathermap_default=OWM_CONN),
    )
    assert isinstance(choice.source, OpenMeteoSource)
    assert "only has current weather" in choice.reason


def test_weather_api_mode_without_a_key_is_keyless_open_meteo():
    choice = resolve_weather_source(
        "api", cities=["Vancouver"], interval=JUST_ENDED, now=NOW, get_connection=no_connections
    )
    assert isinstance(choice.source, OpenMeteoSource)
    assert "keyless" in choice.reason


def test_weather_replay_can_be_forced():
    choice = resolve_weather_source(
        "replay",
        cities=["Vancouver", "Burnaby"],
        interval=JUST_ENDED,
        now=NOW,
        get_connection=connections(openweathermap_default=OWM_CONN),
    )
    assert isinstance(choice.source, ReplayWeatherSource) and choice.source.cities == ["Vancouver", "Burnaby"]


def test_what_a_source_adds_to_the_xcom_is_its_own_report():
    """The ingest merges ``run_report()``: the X search reports its query, the replay nothing."""
    x = resolve_tweet_source(
        "x", TweetOptions(query=" rain "), get_connection=connections(x_api_default=X_CONN)
    )
    assert x.source.run_report() == {"query": "rain"}
    assert resolve_tweet_source("replay", get_connection=no_connections).source.run_report() == {}
