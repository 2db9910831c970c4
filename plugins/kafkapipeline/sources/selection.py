"""Pick the source a run uses: the real API when its connection is configured, else the replay.

Called inside the task (never at DAG parse time), so the connection is looked up when
the run happens. The ``source`` parameter of a run decides.

Tweets (``auto``, ``x``, ``mastodon``, ``replay``):

* ``auto`` (the default): the X API if connection ``x_api_default`` is set; else Mastodon
  if ``mastodon_default`` is set; else the built-in replay source, with a log line saying
  so. When both connections are set, **X wins** (it is the paid, explicitly configured
  search) and the reason says how to force Mastodon;
* ``x`` / ``mastodon``: always that source; a missing connection is an error naming the
  connection to set (``api``, the older name, still means ``x``);
* ``replay``: always the replay source (offline, deterministic; for demos and backfills).

Weather (``auto``, ``replay``, ``api``): ``auto`` is the API if its connection is defined,
otherwise the replay; ``api`` always the real APIs.

Weather has two real providers. OpenWeatherMap only knows the weather now, so it is used
for intervals that ended within ``current_window``; older intervals go to the keyless
Open-Meteo. With ``api`` and no OpenWeatherMap connection, Open-Meteo serves recent
intervals too.

The returned :class:`SourceChoice` carries a ``reason`` that the ingest task logs and
returns in its XCom, so the UI shows which source a run used and why.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic

from kafkapipeline import settings
from kafkapipeline.errors import ConfigurationError, missing_connection
from kafkapipeline.sources.base import Interval, Record, RecordSource
from kafkapipeline.sources.defaults import DEFAULT_TWEET_QUERY

if TYPE_CHECKING:
    from kafkapipeline.streams.tweets import TweetRecord
    from kafkapipeline.streams.weather import WeatherRecord

log = logging.getLogger(__name__)

#: Weather source modes.
SOURCE_MODES = ("auto", "replay", "api")
#: Tweet source modes (the ``source`` Param of ``ingest_tweets``).
TWEET_SOURCE_MODES = ("auto", "x", "mastodon", "replay")

X_API_CONN_EXAMPLE = json.dumps({"conn_type": "generic", "password": "<bearer token>"})
MASTODON_CONN_EXAMPLE = json.dumps({"conn_type": "http", "host": "https://mastodon.social"})
OPENWEATHERMAP_CONN_EXAMPLE = json.dumps({"conn_type": "generic", "password": "<api key>"})

#: OpenWeatherMap (current weather only) serves intervals that ended at most this long ago.
DEFAULT_CURRENT_WINDOW = timedelta(minutes=30)


@dataclass(frozen=True)
class SourceChoice(Generic[Record]):
    """The source a run uses and why (logged and returned in the task's XCom)."""

    source: RecordSource[Record]
    reason: str


def lookup_connection(conn_id: str) -> Any | None:
    """The Airflow connection ``conn_id``, or ``None`` when it is not defined anywhere."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


ConnectionLookup = Callable[[str], Any | None]


def connection_secret(conn: Any, conn_id: str, extra_key: str, example: str) -> str:
    """The secret of a defined connection: its password, or ``extra[extra_key]``."""
    secret = conn.password or (conn.extra_dejson or {}).get(extra_key)
    if not secret:
        raise ConfigurationError(
            f"Airflow connection '{conn_id}' is defined but holds no secret: put it in the password "
            f"field or in extra '{extra_key}', for example AIRFLOW_CONN_{conn_id.upper()}='{example}'"
        )
    return str(secret)


def _check_mode(mode: str) -> str:
    if mode not in SOURCE_MODES:
        raise ValueError(f"source must be one of {', '.join(SOURCE_MODES)}, got {mode!r}")
    return mode


def resolve_tweet_source(
    mode: str = "auto",
    *,
    query: str = DEFAULT_TWEET_QUERY,
    city: str = "Vancouver",
    max_pages: int = 5,
    max_results: int = 100,
    tweets_per_10_minutes: int = 10,
    conn_id: str = settings.X_API_CONN_ID,
    mastodon_conn_id: str = settings.MASTODON_CONN_ID,
    get_connection: ConnectionLookup = lookup_connection,
) -> SourceChoice[TweetRecord]:
    """The tweet source for a run (see the module docstring for the rules)."""
    from kafkapipeline.sources.replay import ReplayTweetSource

    mode = "x" if mode == "api" else mode
    if mode not in TWEET_SOURCE_MODES:
        raise ValueError(f"source must be one of {', '.join(TWEET_SOURCE_MODES)}, got {mode!r}")
    if mode == "replay":
        return SourceChoice(ReplayTweetSource(city, tweets_per_10_minutes), "source=replay was requested")
    x_conn = get_connection(conn_id) if mode in ("auto", "x") else None
    if mode == "x" and x_conn is None:
        raise missing_connection(conn_id, X_API_CONN_EXAMPLE)
    if x_conn is not None:
        from kafkapipeline.sources.x_api import XApiTweetSource

        token = connection_secret(x_conn, conn_id, "bearer_token", X_API_CONN_EXAMPLE)
        source = XApiTweetSource(
            token, query=query, city=city, max_pages=max_pages, max_results=max_results, conn_id=conn_id
        )
        reason = f"connection {conn_id} is set: using the X API (source={mode})"
        if mode == "auto" and get_connection(mastodon_conn_id) is not None:
            reason += f"; {mastodon_conn_id} is set too: X wins in auto, trigger with source=mastodon for it"
        return SourceChoice(source, reason)
    mastodon_conn = get_connection(mastodon_conn_id)
    if mastodon_conn is None:
        if mode == "mastodon":
            raise missing_connection(mastodon_conn_id, MASTODON_CONN_EXAMPLE)
        reason = f"connections {conn_id} and {mastodon_conn_id} not set: using the built-in replay source"
        log.warning(reason)
        return SourceChoice(ReplayTweetSource(city, tweets_per_10_minutes), reason)
    from kafkapipeline.sources.mastodon import MastodonTweetSource

    mastodon = MastodonTweetSource.from_connection(mastodon_conn, mastodon_conn_id, city=city)
    detail = "" if mode == "mastodon" else f" and {conn_id} is not"
    reason = f"connection {mastodon_conn_id} is set{detail}: using Mastodon {mastodon.host} (source={mode})"
    return SourceChoice(mastodon, reason)


def resolve_weather_source(
    mode: str = "auto",
    *,
    cities: list[str],
    interval: Interval,
    now: datetime | None = None,
    current_window: timedelta = DEFAULT_CURRENT_WINDOW,
    replay_step: timedelta = timedelta(minutes=10),
    conn_id: str = settings.OPENWEATHERMAP_CONN_ID,
    get_connection: ConnectionLookup = lookup_connection,
) -> SourceChoice[WeatherRecord]:
    """The weather source for a run over ``interval`` (see the module docstring for the rules)."""
    from kafkapipeline.sources.openmeteo import OpenMeteoSource
    from kafkapipeline.sources.openweathermap import OpenWeatherMapSource
    from kafkapipeline.sources.replay import ReplayWeatherSource

    _check_mode(mode)
    if not cities:
        raise ValueError("cities must name at least one city")
    if mode == "replay":
        return SourceChoice(ReplayWeatherSource(cities, replay_step), "source=replay was requested")
    conn = get_connection(conn_id)
    if conn is None and mode == "auto":
        reason = f"connection {conn_id} not set: using the built-in replay source"
        log.warning(reason)
        return SourceChoice(ReplayWeatherSource(cities, replay_step), reason)
    api_key = connection_secret(conn, conn_id, "api_key", OPENWEATHERMAP_CONN_EXAMPLE) if conn else None
    now = now or datetime.now(UTC)
    ended_ago = now - interval.end
    if ended_ago <= current_window and api_key:
        return SourceChoice(
            OpenWeatherMapSource(api_key, cities, conn_id=conn_id),
            f"connection {conn_id} is set and the interval just ended: using OpenWeatherMap current weather",
        )
    if ended_ago <= current_window:
        reason = f"connection {conn_id} not set and source=api: using the keyless Open-Meteo API"
    else:
        reason = (
            f"the interval ended {ended_ago} ago (more than {current_window}); OpenWeatherMap only has "
            "current weather: using Open-Meteo's historical data"
        )
    return SourceChoice(OpenMeteoSource(cities), reason)
