"""Hourly weather for past intervals from Open-Meteo, which needs no API key.

Two endpoints, chosen by how old the interval is:

* the historical archive (``archive-api.open-meteo.com/v1/archive``, reanalysis data)
  for intervals that ended more than ``archive_delay`` ago (5 days by default: the
  archive lags a few days behind);
* the forecast API with ``past_days`` (``api.open-meteo.com/v1/forecast``) for more
  recent intervals; only hours that have already happened are used, never forecasts.

Both are asked for ``hourly=temperature_2m,apparent_temperature,relative_humidity_2m,
surface_pressure,wind_speed_10m,weather_code``, ``daily=sunrise,sunset``, with
``timezone=UTC`` and ``wind_speed_unit=ms``. A record is made for every hourly time
inside the interval (so a 10-minute interval that contains no full hour yields nothing,
and consecutive intervals together yield every hour exactly once). ``weather_code`` is
a WMO code, turned into a description with :data:`WMO_DESCRIPTIONS`. An hour whose
temperature is ``null`` (not measured yet) is skipped and counted.

Sunrise and sunset: with ``timezone=UTC`` Open-Meteo gives the sunrise and the sunset that
fall on each *UTC* day, and west of Greenwich a day's sunset falls on the next UTC day
(Vancouver's afternoon sunset is after midnight UTC). So each event is filed under its local
*solar* day (UTC shifted by longitude / 15 hours, from the response's ``longitude``) and an
observation gets the sunrise and sunset of its own solar day: the daylight it was taken in.
The request asks for one extra day on each side so those events are there.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests

from kafkapipeline.sources.base import (
    Interval,
    RecordSource,
    SkippedItem,
    SourcePage,
    SourceRequestRejected,
)
from kafkapipeline.sources.http_client import RetryPolicy, get_json
from kafkapipeline.sources.places import Place, resolve_place
from kafkapipeline.streams.base import InvalidRecord
from kafkapipeline.streams.weather import WeatherRecord

log = logging.getLogger(__name__)

SOURCE_NAME = "open-meteo"
ARCHIVE_URL = "https://archive-api.open-meteo.com/v1/archive"
FORECAST_URL = "https://api.open-meteo.com/v1/forecast"
HOURLY_VARIABLES = (
    "temperature_2m",
    "apparent_temperature",
    "relative_humidity_2m",
    "surface_pressure",
    "wind_speed_10m",
    "weather_code",
)
DAILY_VARIABLES = ("sunrise", "sunset")
#: The forecast API serves at most this many past days.
MAX_PAST_DAYS = 92

#: WMO weather interpretation codes (WW) as Open-Meteo documents them.
WMO_DESCRIPTIONS: dict[int, str] = {
    0: "clear sky",
    1: "mainly clear",
    2: "partly cloudy",
    3: "overcast",
    45: "fog",
    48: "depositing rime fog",
    51: "light drizzle",
    53: "moderate drizzle",
    55: "dense drizzle",
    56: "light freezing drizzle",
    57: "dense freezing drizzle",
    61: "slight rain",
    63: "moderate rain",
    65: "heavy rain",
    66: "light freezing rain",
    67: "heavy freezing rain",
    71: "slight snow fall",
    73: "moderate snow fall",
    75: "heavy snow fall",
    77: "snow grains",
    80: "slight rain showers",
    81: "moderate rain showers",
    82: "violent rain showers",
    85: "slight snow showers",
    86: "heavy snow showers",
    95: "thunderstorm",
    96: "thunderstorm with slight hail",
    99: "thunderstorm with heavy hail",
}


def describe_weather_code(code: Any) -> str | None:
    if code is None:
        return None
    if isinstance(code, bool) or not isinstance(code, (int, float)):
        raise InvalidRecord(f"weather_code: expected a WMO code, got {code!r}")
    return WMO_DESCRIPTIONS.get(int(code), f"WMO weather code {int(code)}")


def _utc_time(value: Any, name: str) -> datetime:
    """Open-Meteo's ``YYYY-MM-DDTHH:MM`` (with ``timezone=UTC``) as an aware UTC datetime."""
    if not isinstance(value, str):
        raise InvalidRecord(f"{name}: expected an ISO time, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise InvalidRecord(f"{name}: not an ISO time: {value!r}") from err
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _solar_offset(payload: dict[str, Any]) -> timedelta:
    """How far local solar time is ahead of UTC at the response's longitude (0 when unknown)."""
    longitude = payload.get("longitude")
    if isinstance(longitude, bool) or not isinstance(longitude, (int, float)) or not -180 <= longitude <= 180:
        return timedelta(0)
    return timedelta(hours=longitude / 15)


def _sun_times_by_solar_day(
    payload: dict[str, Any], offset: timedelta
) -> tuple[dict[date, datetime], dict[date, datetime]]:
    """(sunrises, sunsets), each keyed by the local solar day the event belongs to."""
    daily = payload.get("daily")
    rises: dict[date, datetime] = {}
    sets: dict[date, datetime] = {}
    if not isinstance(daily, dict):
        return rises, sets
    for name, into in (("sunrise", rises), ("sunset", sets)):
        values = daily.get(name)
        for value in values if isinstance(values, list) else []:
            try:
                moment = _utc_time(value, f"daily.{name}")
            except InvalidRecord:
                continue  # a bad daily value only costs sunrise/sunset, never the observation
            into[(moment + offset).date()] = moment
    return rises, sets


def parse_hourly(
    payload: Any, city: str, interval: Interval, not_after: datetime, label: str
) -> SourcePage[WeatherRecord]:
    """The hourly rows of an Open-Meteo body that fall in ``interval`` (and not after ``not_after``)."""
    page: SourcePage[WeatherRecord] = SourcePage(label=label)
    hourly = payload.get("hourly") if isinstance(payload, dict) else None
    if not isinstance(hourly, dict) or not isinstance(hourly.get("time"), list):
        page.failure = f"{label}: the response has no hourly.time list"
        return page
    times = hourly["time"]
    columns: dict[str, list[Any]] = {}
    for variable in HOURLY_VARIABLES:
        column = hourly.get(variable)
        if not isinstance(column, list) or len(column) != len(times):
            page.failure = f"{label}: hourly.{variable} is missing or not as long as hourly.time"
            return page
        columns[variable] = column
    offset = _solar_offset(payload)
    sunrises, sunsets = _sun_times_by_solar_day(payload, offset)
    expected = 0
    for index, raw_time in enumerate(times):
        try:
            observed_at = _utc_time(raw_time, "hourly.time")
        except InvalidRecord as err:
            page.skipped.append(SkippedItem(reason=str(err), item_id=f"{city}#{index}"))
            continue
        if not interval.contains(observed_at) or observed_at > not_after:
            continue
        expected += 1
        row = {variable: columns[variable][index] for variable in HOURLY_VARIABLES}
        solar_day = (observed_at + offset).date()
        try:
            if row["temperature_2m"] is None:
                raise InvalidRecord("temperature_2m: null (no data for this hour yet)")
            page.records.append(
                WeatherRecord.from_dict(
                    {
                        "city": city,
                        "observed_at": observed_at,
                        "description": describe_weather_code(row["weather_code"]),
                        "temperature_c": row["temperature_2m"],
                        "feels_like_c": row["apparent_temperature"],
                        "pressure_hpa": _whole(
                            row["surface_pressure"]
                        ),  # hPa to a tenth: the column is an int
                        "humidity_pct": row["relative_humidity_2m"],
                        "wind_speed_ms": row["wind_speed_10m"],
                        "sunrise": sunrises.get(solar_day),
                        "sunset": sunsets.get(solar_day),
                        "provider": SOURCE_NAME,
                    }
                )
            )
        except InvalidRecord as err:
            page.skipped.append(SkippedItem(reason=str(err), item_id=f"{city}@{observed_at.isoformat()}"))
    if expected and not page.records:
        page.failure = (
            f"{label}: none of the {expected} hours in {interval} could be read "
            f"(first reason: {page.skipped[-1].reason})"
        )
    elif not expected:
        page.warnings.append(f"{label}: no hourly observation falls in {interval}")
    return page


class OpenMeteoSource(RecordSource[WeatherRecord]):
    """Hourly observations for each city from Open-Meteo's archive or recent past.

    :param cities: names from the Metro Vancouver table, ``lat,lon`` or ``Name=lat,lon``
    :param policy: timeout and retries for each request
    :param archive_delay: intervals that ended longer ago than this use the archive
    :param sleep: ``time.sleep`` (replaceable in tests)
    :param clock: ``time.time`` (replaceable in tests)
    """

    name = SOURCE_NAME

    def __init__(
        self,
        cities: list[str],
        *,
        policy: RetryPolicy | None = None,
        archive_delay: timedelta = timedelta(days=5),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not cities:
            raise ValueError("at least one city is needed")
        self.places: list[Place] = [resolve_place(city) for city in cities]
        self.policy = policy or RetryPolicy()
        self.archive_delay = archive_delay
        self._sleep = sleep
        self._clock = clock

    def describe(self) -> str:
        return f"Open-Meteo hourly weather for {', '.join(place.name for place in self.places)}"

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def request_for(self, place: Place, interval: Interval) -> tuple[str, dict[str, Any]]:
        """The endpoint and query parameters that cover ``interval`` at ``place``."""
        params: dict[str, Any] = {
            "latitude": place.latitude,
            "longitude": place.longitude,
            "hourly": ",".join(HOURLY_VARIABLES),
            "daily": ",".join(DAILY_VARIABLES),
            "timezone": "UTC",
            "wind_speed_unit": "ms",
        }
        now = self._now()
        last_day = (interval.end - timedelta(microseconds=1)).date()
        # One day more on each side: a solar day's sunrise or sunset can fall on the UTC day
        # before (east of Greenwich) or after (west) the observation's.
        if interval.end <= now - self.archive_delay:
            return ARCHIVE_URL, {
                **params,
                "start_date": (interval.start.date() - timedelta(days=1)).isoformat(),
                "end_date": (last_day + timedelta(days=1)).isoformat(),
            }
        past_days = (now.date() - interval.start.date()).days + 1
        if past_days > MAX_PAST_DAYS:
            raise SourceRequestRejected(f"interval {interval} is too old for the forecast API's past_days")
        # Hours after ``now`` are forecasts and never become records; day two is for today's sunset.
        return FORECAST_URL, {**params, "past_days": max(past_days, 0), "forecast_days": 2}

    def pages(self, interval: Interval) -> Iterator[SourcePage[WeatherRecord]]:
        with requests.Session() as session:
            for place in self.places:
                url, params = self.request_for(place, interval)
                label = f"Open-Meteo {place.name}"
                response = get_json(
                    session,
                    url,
                    params,
                    source=SOURCE_NAME,
                    label=label,
                    policy=self.policy,
                    sleep=self._sleep,
                )
                if response.status != 200:
                    raise SourceRequestRejected(
                        f"{label}: Open-Meteo refused the request "
                        f"(HTTP {response.status}: {response.message})"
                    )
                yield parse_hourly(response.payload, place.name, interval, self._now(), label)


def _whole(value: Any) -> Any:
    """A number rounded to an int (Open-Meteo gives tenths); anything else as it is, for validation."""
    if isinstance(value, float) and math.isfinite(value):
        return round(value)
    return value
