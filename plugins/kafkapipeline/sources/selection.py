"""Every source, registered once, and the rules that pick the one a run uses.

Called inside the task (never at DAG parse time), so connections are looked up when the run
happens. The ``source`` parameter of a run decides.

Tweets (``auto``, ``x``, ``mastodon``, ``replay``): :data:`TWEET_SOURCES` lists them in the
order ``auto`` tries them. ``auto`` (the default) takes the first whose connection is set (X,
the paid and explicitly configured search, wins over Mastodon, and the reason says how to
force the other), else the built-in replay, with a log line saying so. ``x`` / ``mastodon``
force that source, and a missing connection is an error naming it (``api``, the older name,
still means ``x``); ``replay`` is offline and deterministic, for demos and backfills.

Weather (``auto``, ``replay``, ``api``): ``auto`` is the API if OpenWeatherMap's connection is
defined, otherwise the replay; ``api`` always the real APIs. OpenWeatherMap only knows the
weather now, so it serves intervals that ended within ``current_window``; older intervals (and
recent ones without its connection) go to the keyless Open-Meteo.

The returned :class:`SourceChoice` carries a ``reason`` that the ingest task logs and returns
in its XCom, so the UI shows which source a run used and why. The API modules import
``requests``/``tweepy``: they are loaded only when their source is built.
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

if TYPE_CHECKING:
    from kafkapipeline.streams.tweets import TweetRecord
    from kafkapipeline.streams.weather import WeatherRecord

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class SourceConnection:
    """The Airflow connection an API source is configured by.

    :param conn_id: its id
    :param example: an ``AIRFLOW_CONN_`` value that works, quoted in configuration errors
    :param secret_key: the extra key holding the secret when the password is empty
    """

    conn_id: str
    example: str
    secret_key: str = "password"

    def secret(self, conn: Any) -> str:
        """The secret of the defined connection ``conn``: its password, or ``extra[secret_key]``."""
        secret = conn.password or (conn.extra_dejson or {}).get(self.secret_key)
        if not secret:
            raise ConfigurationError(
                f"Airflow connection '{self.conn_id}' is defined but holds no secret: put it in the password "
                f"field or in extra '{self.secret_key}', for example "
                f"AIRFLOW_CONN_{self.conn_id.upper()}='{self.example}'"
            )
        return str(secret)


X_API = SourceConnection(
    settings.X_API_CONN_ID, json.dumps({"conn_type": "generic", "password": "<bearer token>"}), "bearer_token"
)
MASTODON = SourceConnection(
    settings.MASTODON_CONN_ID, json.dumps({"conn_type": "http", "host": "https://mastodon.social"})
)
OPENWEATHERMAP = SourceConnection(
    settings.OPENWEATHERMAP_CONN_ID, json.dumps({"conn_type": "generic", "password": "<api key>"}), "api_key"
)


@dataclass(frozen=True)
class TweetOptions:
    """The ``ingest_tweets`` Params a tweet source may need (each takes its own)."""

    query: str = settings.DEFAULT_TWEET_QUERY
    city: str = "Vancouver"
    max_pages: int = 5
    max_results: int = 100
    tweets_per_10_minutes: int = 10


TweetFactory = Callable[[Any, TweetOptions], RecordSource["TweetRecord"]]


@dataclass(frozen=True)
class TweetSource:
    """One registered tweet source: what names it in reasons, its connection, how it is built.

    :param build: ``(connection or None, options) -> source``
    """

    name: str
    connection: SourceConnection | None
    build: TweetFactory


def _x_api(conn: Any, options: TweetOptions) -> RecordSource[TweetRecord]:
    from kafkapipeline.sources.x_api import XApiTweetSource

    return XApiTweetSource(
        X_API.secret(conn),
        query=options.query,
        city=options.city,
        max_pages=options.max_pages,
        max_results=options.max_results,
        conn_id=X_API.conn_id,
    )


def _mastodon(conn: Any, options: TweetOptions) -> RecordSource[TweetRecord]:
    from kafkapipeline.sources.mastodon import MastodonTweetSource

    return MastodonTweetSource.from_connection(conn, MASTODON.conn_id, city=options.city)


def _replay_tweets(_conn: Any, options: TweetOptions) -> RecordSource[TweetRecord]:
    from kafkapipeline.sources.replay import ReplayTweetSource

    return ReplayTweetSource(options.city, options.tweets_per_10_minutes)


#: Every tweet source by mode, in the order ``auto`` tries them; the one without a connection
#: is the fallback.
TWEET_SOURCES: dict[str, TweetSource] = {
    "x": TweetSource("X", X_API, _x_api),
    "mastodon": TweetSource("Mastodon", MASTODON, _mastodon),
    "replay": TweetSource("replay", None, _replay_tweets),
}
#: Older names of modes.
TWEET_MODE_ALIASES = {"api": "x"}
#: Tweet source modes (the ``source`` Param of ``ingest_tweets``).
TWEET_SOURCE_MODES = ("auto", *TWEET_SOURCES)
#: Weather source modes (the ``source`` Param of ``ingest_weather``).
SOURCE_MODES = ("auto", "replay", "api")


def resolve_tweet_source(
    mode: str = "auto",
    options: TweetOptions | None = None,
    *,
    get_connection: ConnectionLookup = lookup_connection,
) -> SourceChoice[TweetRecord]:
    """The tweet source for a run (see the module docstring for the rules)."""
    options = options or TweetOptions()
    mode = TWEET_MODE_ALIASES.get(mode, mode)
    if mode not in TWEET_SOURCE_MODES:
        raise ValueError(f"source must be one of {', '.join(TWEET_SOURCE_MODES)}, got {mode!r}")
    connected = {
        name: (entry, entry.connection)
        for name, entry in TWEET_SOURCES.items()
        if entry.connection is not None
    }
    fallback = next(entry for entry in TWEET_SOURCES.values() if entry.connection is None)
    if mode != "auto" and mode not in connected:
        return SourceChoice(TWEET_SOURCES[mode].build(None, options), f"source={mode} was requested")
    tried = list(connected) if mode == "auto" else [mode]
    unset: list[str] = []
    for position, name in enumerate(tried):
        entry, connection = connected[name]
        conn = get_connection(connection.conn_id)
        if conn is None:
            if mode != "auto":
                raise missing_connection(connection.conn_id, connection.example)
            unset.append(connection.conn_id)
            continue
        source = entry.build(conn, options)
        detail = f" and {' and '.join(unset)} is not" if unset else ""
        reason = f"connection {connection.conn_id} is set{detail}: using {source.title()} (source={mode})"
        for other in tried[position + 1 :]:  # auto only: the others it could have used
            other_id = connected[other][1].conn_id
            if get_connection(other_id) is not None:
                reason += (
                    f"; {other_id} is set too: {entry.name} wins in auto, trigger with source={other} for it"
                )
        return SourceChoice(source, reason)
    reason = f"connections {' and '.join(unset)} not set: using the built-in {fallback.name} source"
    log.warning(reason)
    return SourceChoice(fallback.build(None, options), reason)


def resolve_weather_source(
    mode: str = "auto",
    *,
    cities: list[str],
    interval: Interval,
    now: datetime | None = None,
    current_window: timedelta = DEFAULT_CURRENT_WINDOW,
    replay_step: timedelta = timedelta(minutes=10),
    get_connection: ConnectionLookup = lookup_connection,
) -> SourceChoice[WeatherRecord]:
    """The weather source for a run over ``interval`` (see the module docstring for the rules)."""
    from kafkapipeline.sources.openmeteo import OpenMeteoSource
    from kafkapipeline.sources.openweathermap import OpenWeatherMapSource
    from kafkapipeline.sources.replay import ReplayWeatherSource

    if mode not in SOURCE_MODES:
        raise ValueError(f"source must be one of {', '.join(SOURCE_MODES)}, got {mode!r}")
    if not cities:
        raise ValueError("cities must name at least one city")
    if mode == "replay":
        return SourceChoice(ReplayWeatherSource(cities, replay_step), "source=replay was requested")
    conn_id = OPENWEATHERMAP.conn_id
    conn = get_connection(conn_id)
    if conn is None and mode == "auto":
        reason = f"connection {conn_id} not set: using the built-in replay source"
        log.warning(reason)
        return SourceChoice(ReplayWeatherSource(cities, replay_step), reason)
    api_key = OPENWEATHERMAP.secret(conn) if conn else None
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
