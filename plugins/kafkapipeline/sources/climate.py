"""A small, deterministic model of a Vancouver-like climate, for the replay source.

It is not a forecast: it produces plausible weather that varies the way the real thing
does (mild wet winters, dry warm summers, cooler nights, clouds and rain in spells), so
the pipeline and the sentiment-against-weather analysis have realistic input offline.

Every value is a pure function of (city, moment). Randomness comes from generators
seeded per UTC day and per UTC hour (see :func:`seeded_random`), shared by the whole
region so that neighbouring cities see the same weather system, plus a small fixed offset
per city. Values between the daily and hourly anchors are interpolated, so:

* any two runs that ask for the same moment get the same weather, whatever interval
  they cover (overlapping runs and backfills agree);
* the weather changes smoothly from one 10-minute observation to the next.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from kafkapipeline.sources.base import as_utc, seeded_random, stable_int
from kafkapipeline.sources.places import METRO_VANCOUVER, Place, resolve_place

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_YEAR_DAYS = 365.25
#: Seed of the shared weather system: every city of the model lives in one region.
_REGION = "metro-vancouver"


def place_or_vancouver(city: str) -> Place:
    """Coordinates for ``city``; an unknown name gets Vancouver's (the model is Vancouver's climate)."""
    try:
        return resolve_place(city)
    except Exception:
        vancouver = METRO_VANCOUVER["vancouver"]
        return Place(city.strip() or vancouver.name, vancouver.latitude, vancouver.longitude)


def sun_times(place: Place, local_day: date) -> tuple[datetime, datetime]:
    """Sunrise and sunset (UTC) of ``local_day`` at ``place``, NOAA's low-precision formulas.

    Accurate to a minute or two at mid latitudes, which is all a weather record needs.
    """
    day_of_year = local_day.timetuple().tm_yday
    gamma = 2 * math.pi / 365 * (day_of_year - 1)
    equation_of_time = 229.18 * (
        0.000075
        + 0.001868 * math.cos(gamma)
        - 0.032077 * math.sin(gamma)
        - 0.014615 * math.cos(2 * gamma)
        - 0.040849 * math.sin(2 * gamma)
    )
    declination = (
        0.006918
        - 0.399912 * math.cos(gamma)
        + 0.070257 * math.sin(gamma)
        - 0.006758 * math.cos(2 * gamma)
        + 0.000907 * math.sin(2 * gamma)
        - 0.002697 * math.cos(3 * gamma)
        + 0.00148 * math.sin(3 * gamma)
    )
    latitude = math.radians(place.latitude)
    cos_hour_angle = math.cos(math.radians(90.833)) / (math.cos(latitude) * math.cos(declination)) - math.tan(
        latitude
    ) * math.tan(declination)
    hour_angle = math.degrees(math.acos(max(-1.0, min(1.0, cos_hour_angle))))
    midnight = datetime(local_day.year, local_day.month, local_day.day, tzinfo=UTC)
    sunrise = 720 - 4 * (place.longitude + hour_angle) - equation_of_time
    sunset = 720 - 4 * (place.longitude - hour_angle) - equation_of_time
    return (
        midnight + timedelta(minutes=round(sunrise)),
        midnight + timedelta(minutes=round(sunset)),
    )


def local_solar_day(place: Place, moment: datetime) -> date:
    """The calendar day at ``place`` (by solar time), which sunrise/sunset belong to."""
    return (as_utc(moment) + timedelta(hours=place.longitude / 15.0)).date()


@dataclass(frozen=True)
class Conditions:
    """The modelled weather at one moment."""

    temperature_c: float
    feels_like_c: float
    humidity_pct: int
    pressure_hpa: int
    wind_speed_ms: float
    cloud_cover: float  # 0..1
    precipitation_mm_h: float
    description: str

    @property
    def category(self) -> str:
        """Coarse kind of weather, for tweets that talk about it: sun, cloud, rain, snow or fog."""
        if self.precipitation_mm_h > 0:
            return "snow" if "snow" in self.description else "rain"
        if self.description in ("mist", "fog"):
            return "fog"
        return "sun" if self.cloud_cover < 0.5 else "cloud"


def _lerp(a: float, b: float, fraction: float) -> float:
    return a + (b - a) * fraction


def _day_anchor(day: date) -> tuple[float, float, float]:
    """(wetness 0..1, temperature anomaly °C, pressure anomaly hPa) of one UTC day in the region."""
    rng = seeded_random("climate-day", _REGION, day.isoformat())
    day_of_year = day.timetuple().tm_yday
    # Share of wet days: ~60% in December/January, ~12% in July.
    wet_share = 0.36 + 0.24 * math.cos(2 * math.pi * (day_of_year - 5) / _YEAR_DAYS)
    draw = rng.random()
    if draw < wet_share:
        wetness = 0.6 + 0.4 * rng.random()
    elif draw < wet_share + (1 - wet_share) * 0.45:
        wetness = 0.3 + 0.35 * rng.random()
    else:
        wetness = 0.25 * rng.random()
    return wetness, rng.gauss(0.0, 1.8), rng.gauss(0.0, 3.0)


def _hour_anchor(city: str, hour_start: datetime) -> tuple[float, float, float]:
    """(cloud noise, rain noise, wind noise) of one UTC hour, each in -1..1.

    Mostly the region's, a quarter the city's own, so nearby cities differ a little.
    """
    hour = int((hour_start - _EPOCH).total_seconds())
    region = seeded_random("climate-hour", _REGION, hour)
    local = seeded_random("climate-hour", city, hour)
    return tuple(0.75 * region.uniform(-1, 1) + 0.25 * local.uniform(-1, 1) for _ in range(3))  # type: ignore[return-value]


def _city_offset(city: str) -> float:
    """A fixed temperature offset per city in -0.8..0.8 °C (coast, elevation, urban heat)."""
    return (stable_int("climate-offset", city, bits=16) / 65535 - 0.5) * 1.6


def _apparent_temperature(temperature: float, humidity: float, wind: float) -> float:
    """Australian BOM apparent temperature (no radiation term), as Open-Meteo uses."""
    vapour_pressure = humidity / 100 * 6.105 * math.exp(17.27 * temperature / (237.7 + temperature))
    return temperature + 0.33 * vapour_pressure - 0.70 * wind - 4.00


#: Cloud cover below each bound gets the description next to it.
_CLOUD_DESCRIPTIONS = (
    (0.11, "clear sky"),
    (0.25, "few clouds"),
    (0.5, "scattered clouds"),
    (0.85, "broken clouds"),
)


def _rain_description(precipitation: float, temperature: float) -> str:
    if temperature <= 0.5:
        return "light snow" if precipitation < 1.0 else "snow"
    if precipitation < 2.5:
        return "light rain"
    return "moderate rain" if precipitation < 7.6 else "heavy intensity rain"


def describe(
    cloud_cover: float, precipitation: float, temperature: float, humidity: float, wind: float
) -> str:
    """An OpenWeatherMap-style description consistent with the modelled values."""
    if precipitation > 0:
        return _rain_description(precipitation, temperature)
    if humidity >= 97 and wind < 2.0:
        return "fog" if humidity >= 99 else "mist"
    for bound, description in _CLOUD_DESCRIPTIONS:
        if cloud_cover < bound:
            return description
    return "overcast clouds"


def conditions_at(city: str, moment: datetime) -> Conditions:
    """The modelled weather for ``city`` at ``moment`` (deterministic, smooth in time)."""
    place = place_or_vancouver(city)
    moment = as_utc(moment)
    day_start = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    day_fraction = (moment - day_start).total_seconds() / 86400
    today = _day_anchor(day_start.date())
    tomorrow = _day_anchor((day_start + timedelta(days=1)).date())
    wetness, temperature_anomaly, pressure_anomaly = (
        _lerp(a, b, day_fraction) for a, b in zip(today, tomorrow, strict=True)
    )

    hour_start = moment.replace(minute=0, second=0, microsecond=0)
    hour_fraction = (moment - hour_start).total_seconds() / 3600
    this_hour = _hour_anchor(place.name, hour_start)
    next_hour = _hour_anchor(place.name, hour_start + timedelta(hours=1))
    cloud_noise, rain_noise, wind_noise = (
        _lerp(a, b, hour_fraction) for a, b in zip(this_hour, next_hour, strict=True)
    )

    cloud_cover = min(1.0, max(0.0, 0.1 + 0.85 * wetness + 0.25 * cloud_noise))
    # Only wet days rain, and not every hour of them.
    precipitation = round(max(0.0, (wetness - 0.65 + 0.4 * rain_noise) * 9.0), 1)

    day_of_year = day_start.timetuple().tm_yday
    seasonal_mean = 11.6 - 7.0 * math.cos(2 * math.pi * (day_of_year - 18) / _YEAR_DAYS)
    diurnal_amplitude = 3.6 - 1.2 * math.cos(2 * math.pi * (day_of_year - 18) / _YEAR_DAYS)
    local_hour = (moment.hour + moment.minute / 60 + place.longitude / 15.0) % 24
    diurnal = math.cos(2 * math.pi * (local_hour - 15.0) / 24)  # warmest mid-afternoon
    temperature = (
        seasonal_mean
        + _city_offset(place.name)
        + temperature_anomaly
        + diurnal_amplitude * diurnal * (1 - 0.6 * cloud_cover)
        - (1.2 if precipitation > 0 else 0.0)
    )
    humidity = min(100.0, max(35.0, 72 + 18 * cloud_cover + 8 * (precipitation > 0) - 14 * diurnal))
    wind = max(0.3, 2.2 + 3.5 * wetness + 1.5 * wind_noise)
    pressure = 1021 - 16 * wetness + pressure_anomaly
    return Conditions(
        temperature_c=round(temperature, 2),
        feels_like_c=round(_apparent_temperature(temperature, humidity, wind), 2),
        humidity_pct=round(humidity),
        pressure_hpa=round(pressure),
        wind_speed_ms=round(wind, 1),
        cloud_cover=round(cloud_cover, 3),
        precipitation_mm_h=precipitation,
        description=describe(cloud_cover, precipitation, temperature, humidity, wind),
    )
