"""OpenWeatherMap and Open-Meteo sources at the HTTP edge.

No real response of either API is recorded in reference-data/, so the bodies below are
hand-written from the providers' documented formats (OpenWeatherMap "Current weather
data" /data/2.5/weather with units=metric; Open-Meteo /v1/archive and /v1/forecast with
hourly and daily variables, timezone=UTC).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses

from kafkapipeline.errors import ConfigurationError
from kafkapipeline.sources.base import Interval, SourceRequestRejected, SourceUnavailable
from kafkapipeline.sources.http_client import RetryPolicy
from kafkapipeline.sources.openmeteo import ARCHIVE_URL, FORECAST_URL, OpenMeteoSource
from kafkapipeline.sources.openweathermap import CURRENT_WEATHER_URL, OpenWeatherMapSource

API_KEY = "owm-test-key-not-real"
INTERVAL = Interval(datetime(2024, 1, 15, 20, 0, tzinfo=UTC), datetime(2024, 1, 15, 20, 10, tzinfo=UTC))
FAST = RetryPolicy(timeout=5, max_attempts=3, backoff_seconds=1.0)

# Documented OpenWeatherMap current-weather body (units=metric), values for Vancouver.
OWM_VANCOUVER = {
    "coord": {"lon": -123.1207, "lat": 49.2827},
    "weather": [{"id": 500, "main": "Rain", "description": "light rain", "icon": "10d"}],
    "base": "stations",
    "main": {
        "temp": 6.42,
        "feels_like": 3.9,
        "temp_min": 5.1,
        "temp_max": 7.6,
        "pressure": 1009,
        "humidity": 91,
    },
    "visibility": 10000,
    "wind": {"speed": 3.6, "deg": 140},
    "clouds": {"all": 100},
    "dt": 1705348800,  # 2024-01-15T20:00:00Z
    "sys": {"type": 2, "id": 2011597, "country": "CA", "sunrise": 1705334580, "sunset": 1705365600},
    "timezone": -28800,
    "id": 6173331,
    "name": "Vancouver",
    "cod": 200,
}


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def query_of(call) -> dict[str, list[str]]:
    return parse_qs(urlparse(call.request.url).query)


def owm(cities=("Vancouver",), sleeps=None) -> OpenWeatherMapSource:
    return OpenWeatherMapSource(
        API_KEY, list(cities), policy=FAST, sleep=sleeps if sleeps is not None else Sleeps()
    )


# --- OpenWeatherMap ------------------------------------------------------------------


@responses.activate
def test_owm_current_weather_becomes_a_record():
    responses.get(CURRENT_WEATHER_URL, json=OWM_VANCOUVER)

    (page,) = owm().pages(INTERVAL)

    (record,) = page.records
    assert record.city == "Vancouver" and record.provider == "openweathermap"
    assert record.observed_at == datetime(2024, 1, 15, 20, 0, tzinfo=UTC)
    assert record.description == "light rain"
    assert (record.temperature_c, record.feels_like_c, record.temp_min_c, record.temp_max_c) == (
        6.42,
        3.9,
        5.1,
        7.6,
    )
    assert (record.pressure_hpa, record.humidity_pct, record.wind_speed_ms) == (1009, 91, 3.6)
    assert record.sunrise == datetime.fromtimestamp(1705334580, UTC)
    assert record.sunset == datetime.fromtimestamp(1705365600, UTC)
    params = query_of(responses.calls[0])
    assert params == {"q": ["Vancouver,CA"], "units": ["metric"], "appid": [API_KEY]}


@responses.activate
def test_owm_asks_by_coordinates_or_plain_name():
    responses.get(CURRENT_WEATHER_URL, json=OWM_VANCOUVER)

    pages = list(owm(["Whistler=50.1163,-122.9574", "Toronto"]).pages(INTERVAL))

    assert [p.records[0].city for p in pages] == ["Whistler", "Toronto"]
    first, second = (query_of(c) for c in responses.calls)
    assert (first["lat"], first["lon"], "q" in first) == (["50.1163"], ["-122.9574"], False)
    assert second["q"] == ["Toronto"]


@responses.activate
def test_owm_401_names_the_connection_and_hides_the_key():
    responses.get(
        CURRENT_WEATHER_URL,
        status=401,
        json={"cod": 401, "message": "Invalid API key. Please see https://openweathermap.org/faq#error401"},
    )
    with pytest.raises(ConfigurationError, match="openweathermap_default") as raised:
        list(owm().pages(INTERVAL))
    assert "Invalid API key" in str(raised.value)
    assert API_KEY not in str(raised.value)
    assert len(responses.calls) == 1


@responses.activate
def test_owm_unknown_city_is_rejected():
    responses.get(CURRENT_WEATHER_URL, status=404, json={"cod": "404", "message": "city not found"})
    with pytest.raises(SourceRequestRejected, match=r"city not found.*cities"):
        list(owm(["Atlantis"]).pages(INTERVAL))


@responses.activate
def test_owm_server_errors_and_timeouts_are_retried():
    sleeps = Sleeps()
    responses.get(CURRENT_WEATHER_URL, status=502)
    responses.get(CURRENT_WEATHER_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    responses.get(CURRENT_WEATHER_URL, json=OWM_VANCOUVER)

    (page,) = owm(sleeps=sleeps).pages(INTERVAL)

    assert len(page.records) == 1
    assert sleeps == [1.0, 2.0]


@responses.activate
@pytest.mark.parametrize(
    "failure",
    [
        {"status": 503},
        {"status": 429, "json": {"cod": 429, "message": "too many requests"}},
        {
            "body": requests.exceptions.ConnectTimeout(
                f"timed out: /data/2.5/weather?q=Vancouver&appid={API_KEY}"
            )
        },
    ],
    ids=["5xx", "429", "timeout"],
)
def test_owm_persistent_failures_give_up_without_leaking_the_key(failure):
    responses.get(CURRENT_WEATHER_URL, **failure)

    with pytest.raises(SourceUnavailable, match="failed 3 times in a row") as raised:
        list(owm().pages(INTERVAL))

    assert len(responses.calls) == 3
    chain = [raised.value, raised.value.__cause__, raised.value.__context__]
    assert all(API_KEY not in str(err) for err in chain if err is not None)


@responses.activate
def test_owm_malformed_body_is_skipped_and_reported_as_a_failed_response():
    broken = {k: v for k, v in OWM_VANCOUVER.items() if k != "main"}
    responses.get(CURRENT_WEATHER_URL, json=broken)

    (page,) = owm().pages(INTERVAL)

    assert page.records == []
    assert [s.reason for s in page.skipped] == ["main.temp: required temperature is missing"]
    assert page.failure and "Vancouver" in page.failure


# --- Open-Meteo ----------------------------------------------------------------------


def open_meteo_body(times: list[str], temperatures: list[float | None], codes: list[int]) -> dict:
    """A documented-format Open-Meteo body (timezone=UTC, wind_speed_unit=ms).

    Daily rows span a day either side of the hours, as the source asks for; Vancouver's
    sunrise is in the UTC morning-afternoon and its sunset just after midnight UTC.
    """
    count = len(times)
    hour_days = {date.fromisoformat(t[:10]) for t in times}
    days = sorted({(d + timedelta(days=step)).isoformat() for d in hour_days for step in (-1, 0, 1)})
    return {
        "latitude": 49.25,
        "longitude": -123.125,
        "generationtime_ms": 0.1,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "timezone_abbreviation": "GMT",
        "elevation": 73.0,
        "hourly_units": {"time": "iso8601", "temperature_2m": "°C", "wind_speed_10m": "m/s"},
        "hourly": {
            "time": times,
            "temperature_2m": temperatures,
            "apparent_temperature": [None if t is None else t - 2.5 for t in temperatures],
            "relative_humidity_2m": [88] * count,
            "surface_pressure": [1004.6] * count,
            "wind_speed_10m": [4.2] * count,
            "weather_code": codes,
        },
        "daily_units": {"time": "iso8601", "sunrise": "iso8601", "sunset": "iso8601"},
        "daily": {
            "time": days,
            "sunrise": [f"{d}T16:03" for d in days],
            "sunset": [f"{d}T00:39" for d in days],
        },
    }


def meteo(now: datetime, sleeps=None, cities=("Vancouver",)) -> OpenMeteoSource:
    return OpenMeteoSource(
        list(cities),
        policy=FAST,
        sleep=sleeps if sleeps is not None else Sleeps(),
        clock=now.timestamp,
    )


@responses.activate
def test_open_meteo_archive_for_old_intervals():
    interval = Interval(datetime(2024, 1, 15, 19, 0, tzinfo=UTC), datetime(2024, 1, 15, 22, 0, tzinfo=UTC))
    times = [f"2024-01-15T{h:02d}:00" for h in range(18, 23)]
    responses.get(ARCHIVE_URL, json=open_meteo_body(times, [5.0, 5.5, 6.0, 6.5, 7.0], [3, 61, 63, 0, 95]))

    (page,) = meteo(datetime(2024, 3, 1, tzinfo=UTC)).pages(interval)

    assert [r.observed_at.hour for r in page.records] == [19, 20, 21]  # 18:00 and 22:00 are outside
    assert [r.description for r in page.records] == ["slight rain", "moderate rain", "clear sky"]
    first = page.records[0]
    assert (first.city, first.provider, first.temperature_c, first.feels_like_c) == (
        "Vancouver",
        "open-meteo",
        5.5,
        3.0,
    )
    assert (first.pressure_hpa, first.humidity_pct, first.wind_speed_ms) == (1005, 88, 4.2)
    # The sunrise and sunset of the daylight the observation was taken in (Jan 15, local): the
    # sunset falls on the next UTC day, and the sunset on the Jan 15 UTC row is Jan 14's.
    assert first.sunrise == datetime(2024, 1, 15, 16, 3, tzinfo=UTC)
    assert first.sunset == datetime(2024, 1, 16, 0, 39, tzinfo=UTC)
    params = query_of(responses.calls[0])
    assert (params["start_date"], params["end_date"]) == (["2024-01-14"], ["2024-01-16"])
    assert params["timezone"] == ["UTC"] and params["wind_speed_unit"] == ["ms"]
    assert params["latitude"] == ["49.2827"] and params["longitude"] == ["-123.1207"]
    assert set(params["hourly"][0].split(",")) == {
        "temperature_2m",
        "apparent_temperature",
        "relative_humidity_2m",
        "surface_pressure",
        "wind_speed_10m",
        "weather_code",
    }


@responses.activate
def test_open_meteo_forecast_with_past_days_for_recent_intervals_and_never_future_hours():
    now = datetime(2024, 1, 16, 20, 30, tzinfo=UTC)
    interval = Interval(datetime(2024, 1, 16, 18, 0, tzinfo=UTC), datetime(2024, 1, 16, 23, 0, tzinfo=UTC))
    times = [f"2024-01-16T{h:02d}:00" for h in range(17, 24)]
    responses.get(FORECAST_URL, json=open_meteo_body(times, [4.0] * 7, [2] * 7))

    (page,) = meteo(now).pages(interval)

    assert [r.observed_at.hour for r in page.records] == [18, 19, 20]  # 21:00+ would be forecasts
    assert page.records[0].description == "partly cloudy"
    params = query_of(responses.calls[0])
    assert params["past_days"] == ["1"] and params["forecast_days"] == ["2"]
    assert page.records[0].sunset == datetime(2024, 1, 17, 0, 39, tzinfo=UTC)  # tonight's, from day two


@responses.activate
def test_open_meteo_short_interval_without_a_full_hour_yields_nothing_but_is_fine():
    responses.get(
        ARCHIVE_URL, json=open_meteo_body(["2024-01-15T20:00", "2024-01-15T21:00"], [5.0, 6.0], [0, 0])
    )
    interval = Interval(datetime(2024, 1, 15, 20, 10, tzinfo=UTC), datetime(2024, 1, 15, 20, 20, tzinfo=UTC))

    (page,) = meteo(datetime(2024, 3, 1, tzinfo=UTC)).pages(interval)

    assert page.records == [] and page.failure is None
    assert "no hourly observation" in page.warnings[0]


@responses.activate
def test_open_meteo_null_hours_are_skipped_and_all_null_is_a_failure():
    interval = Interval(datetime(2024, 1, 15, 19, 0, tzinfo=UTC), datetime(2024, 1, 15, 21, 0, tzinfo=UTC))
    times = ["2024-01-15T19:00", "2024-01-15T20:00"]
    responses.get(ARCHIVE_URL, json=open_meteo_body(times, [None, 6.0], [0, 0]))
    responses.get(ARCHIVE_URL, json=open_meteo_body(times, [None, None], [0, 0]))
    source = meteo(datetime(2024, 3, 1, tzinfo=UTC))

    (partial,) = source.pages(interval)
    (empty,) = source.pages(interval)

    assert [r.observed_at.hour for r in partial.records] == [20]
    assert "temperature_2m: null" in partial.skipped[0].reason and partial.failure is None
    assert empty.records == [] and empty.failure and "none of the 2 hours" in empty.failure


@responses.activate
def test_open_meteo_body_without_hourly_columns_is_a_failure():
    body = open_meteo_body(["2024-01-15T20:00"], [5.0], [0])
    del body["hourly"]["weather_code"]
    responses.get(ARCHIVE_URL, json=body)

    (page,) = meteo(datetime(2024, 3, 1, tzinfo=UTC)).pages(INTERVAL)

    assert page.failure and "weather_code" in page.failure


@responses.activate
def test_open_meteo_errors():
    responses.get(ARCHIVE_URL, status=400, json={"error": True, "reason": "Parameter 'hourly' invalid"})
    with pytest.raises(SourceRequestRejected, match="Parameter 'hourly' invalid"):
        list(meteo(datetime(2024, 3, 1, tzinfo=UTC)).pages(INTERVAL))

    responses.replace(responses.GET, ARCHIVE_URL, status=504)
    sleeps = Sleeps()
    with pytest.raises(SourceUnavailable, match="HTTP 504"):
        list(meteo(datetime(2024, 3, 1, tzinfo=UTC), sleeps=sleeps).pages(INTERVAL))
    assert sleeps == [1.0, 2.0]


def test_open_meteo_needs_coordinates_for_every_city():
    with pytest.raises(ConfigurationError, match=r"unknown city 'Atlantis'.*lat,lon"):
        OpenMeteoSource(["Atlantis"])
    source = OpenMeteoSource(["49.3,-123.1", "Home=49.2,-123.0"])
    assert [p.name for p in source.places] == ["49.3,-123.1", "Home"]
