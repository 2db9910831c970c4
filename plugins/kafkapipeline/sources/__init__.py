"""Where the pipeline's records come from, behind one interface.

Every source is a :class:`~kafkapipeline.sources.base.RecordSource`: given an interval
``[start, end)`` it yields pages of :class:`~kafkapipeline.streams.tweets.TweetRecord` or
:class:`~kafkapipeline.streams.weather.WeatherRecord`.

* :mod:`.x_api` — X API v2 recent search (connection ``x_api_default``)
* :mod:`.mastodon` — public hashtag / local timelines of a Mastodon instance (connection ``mastodon_default``)
* :mod:`.openweathermap` — OpenWeatherMap current weather (connection ``openweathermap_default``)
* :mod:`.openmeteo` — Open-Meteo hourly history, keyless
* :mod:`.replay` — the built-in deterministic replay, the default when no connection is set
* :mod:`.selection` — which of them a run uses

The API modules import ``requests``/``tweepy`` and are loaded only when chosen.
"""

from __future__ import annotations

from kafkapipeline.sources.base import (
    Interval,
    MalformedResponse,
    RecordSource,
    SkippedItem,
    SourceError,
    SourcePage,
    SourceRequestRejected,
    SourceUnavailable,
)
from kafkapipeline.sources.selection import (
    DEFAULT_TWEET_QUERY,
    SOURCE_MODES,
    TWEET_SOURCE_MODES,
    SourceChoice,
    resolve_tweet_source,
    resolve_weather_source,
)

__all__ = [
    "DEFAULT_TWEET_QUERY",
    "SOURCE_MODES",
    "TWEET_SOURCE_MODES",
    "Interval",
    "MalformedResponse",
    "RecordSource",
    "SkippedItem",
    "SourceChoice",
    "SourceError",
    "SourcePage",
    "SourceRequestRejected",
    "SourceUnavailable",
    "resolve_tweet_source",
    "resolve_weather_source",
]
