"""Current weather from OpenWeatherMap (``GET /data/2.5/weather``), one request per city.

OpenWeatherMap's free API only knows the weather *now*, so this source is chosen only
for runs whose interval has just ended; past intervals go to Open-Meteo (see
:mod:`kafkapipeline.sources.selection`). Each city yields one record whose
``observed_at`` is the provider's ``dt`` (the time of the measurement, which may lie a
few minutes before the interval: it is the latest observation there is).

Cities from the Metro Vancouver table are asked for as ``Name,CA`` (so Vancouver is not
Vancouver, Washington), ``lat,lon`` cities by coordinates, anything else by name as given.
The API key goes in the ``appid`` query parameter, so no URL is ever logged or put
into an error message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import requests

from kafkapipeline import settings
from kafkapipeline.errors import ConfigurationError
from kafkapipeline.sources.base import (
    Interval,
    RecordSource,
    SkippedItem,
    SourcePage,
    SourceRequestRejected,
)
from kafkapipeline.sources.http_client import RetryPolicy, get_json
from kafkapipeline.sources.places import resolve_place
from kafkapipeline.streams.base import InvalidRecord
from kafkapipeline.streams.weather import WeatherRecord

log = logging.getLogger(__name__)

SOURCE_NAME = "openweathermap"
CURRENT_WEATHER_URL = "https://api.openweathermap.org/data/2.5/weather"


def _timestamp(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRecord(f"{name}: expected epoch seconds, got {value!r}")
    return datetime.fromtimestamp(value, UTC)


def _section(payload: dict[str, Any], name: str) -> dict[str, Any]:
    value = payload.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRecord(f"{name}: expected an object, got {type(value).__name__}")
    return value


def parse_current_weather(payload: Any, city: str) -> WeatherRecord:
    """An OpenWeatherMap current-weather body as a record for ``city``; :class:`InvalidRecord` if unusable."""
    if not isinstance(payload, dict):
        raise InvalidRecord(f"response is {type(payload).__name__}, expected an object")
    main = _section(payload, "main")
    if "temp" not in main:
        raise InvalidRecord("main.temp: required temperature is missing")
    if payload.get("dt") is None:
        raise InvalidRecord("dt: required observation time is missing")
    weather = payload.get("weather")
    description = None
    if isinstance(weather, list) and weather and isinstance(weather[0], dict):
        description = weather[0].get("description")
    wind = _section(payload, "wind")
    sys = _section(payload, "sys")
    return WeatherRecord.from_dict(
        {
            "city": city,
            "observed_at": _timestamp(payload.get("dt"), "dt"),
            "description": description,
            "temperature_c": main.get("temp"),
            "feels_like_c": main.get("feels_like"),
            "temp_min_c": main.get("temp_min"),
            "temp_max_c": main.get("temp_max"),
            "pressure_hpa": main.get("pressure"),
            "humidity_pct": main.get("humidity"),
            "wind_speed_ms": wind.get("speed"),
            "sunrise": _timestamp(sys.get("sunrise"), "sys.sunrise"),
            "sunset": _timestamp(sys.get("sunset"), "sys.sunset"),
            "provider": SOURCE_NAME,
        }
    )


class OpenWeatherMapSource(RecordSource[WeatherRecord]):
    """The current weather of each city, in metric units.

    :param api_key: OpenWeatherMap API key (from connection ``openweathermap_default``); never logged
    :param cities: cities to ask for
    :param policy: timeout and retries for each request
    :param conn_id: connection the key came from, named in configuration errors
    :param sleep: ``time.sleep`` (replaceable in tests)
    """

    name = SOURCE_NAME

    def __init__(
        self,
        api_key: str,
        cities: list[str],
        *,
        policy: RetryPolicy | None = None,
        conn_id: str = settings.OPENWEATHERMAP_CONN_ID,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise ConfigurationError(f"connection '{conn_id}' has no API key (password or extra api_key)")
        if not cities or any(not city or not city.strip() for city in cities):
            raise ValueError("cities must be a non-empty list of non-empty names")
        self._api_key = api_key
        self.cities = [city.strip() for city in cities]
        self.policy = policy or RetryPolicy()
        self.conn_id = conn_id
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"OpenWeatherMapSource(cities={self.cities!r})"

    def describe(self) -> str:
        return f"OpenWeatherMap current weather (connection {self.conn_id}) for {', '.join(self.cities)}"

    def _query(self, city: str) -> tuple[str, dict[str, Any]]:
        """The record's city name and the query parameters that identify it."""
        params: dict[str, Any] = {"units": "metric", "appid": self._api_key}
        try:
            place = resolve_place(city)
        except ConfigurationError:
            return city, {"q": city, **params}  # any other name: let OpenWeatherMap find it
        if place.country:
            return place.name, {"q": place.owm_query, **params}
        return place.name, {"lat": place.latitude, "lon": place.longitude, **params}

    def _page(self, session: requests.Session, city: str) -> SourcePage[WeatherRecord]:
        name, params = self._query(city)
        response = get_json(
            session,
            CURRENT_WEATHER_URL,
            params,
            source=SOURCE_NAME,
            label=f"OpenWeatherMap {name}",
            policy=self.policy,
            sleep=self._sleep,
        )
        if response.status == 401:
            raise ConfigurationError(
                f"OpenWeatherMap rejected the API key (401: {response.message}); set a valid key in "
                f"connection '{self.conn_id}' (password, or extra 'api_key')"
            )
        if response.status == 404:
            raise SourceRequestRejected(
                f"OpenWeatherMap does not know the city {city!r} (404: {response.message}); "
                "fix the 'cities' parameter"
            )
        if response.status != 200:
            raise SourceRequestRejected(
                f"OpenWeatherMap refused the request for {city!r} "
                f"(HTTP {response.status}: {response.message})"
            )
        page: SourcePage[WeatherRecord] = SourcePage(label=name)
        try:
            page.records.append(parse_current_weather(response.payload, name))
        except InvalidRecord as err:
            page.skipped.append(SkippedItem(reason=str(err), item_id=name))
            page.failure = f"OpenWeatherMap {name}: the response had no usable observation ({err})"
        return page

    def pages(self, interval: Interval) -> Iterator[SourcePage[WeatherRecord]]:
        with requests.Session() as session:
            for city in self.cities:
                yield self._page(session, city)
