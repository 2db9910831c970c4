"""The weather stream: observations (OpenWeatherMap, Open-Meteo, the replay) -> the weather topic
-> the ``weather_reports`` table, one row per city and observation time, temperatures in Celsius.
The Kafka key is the city.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any, ClassVar

import msgspec

from kafkapipeline.settings import SCHEMA_VERSION
from kafkapipeline.streams.base import (
    DERIVED,
    DRAIN,
    City,
    Column,
    Finite,
    Int32,
    Kind,
    Label,
    Record,
    Stream,
    Table,
    utc_field,
)

#: Weather description: a few words from the provider ("light intensity drizzle").
DESCRIPTION_MAX_CHARS = 200

Celsius = Annotated[
    float, msgspec.Meta(ge=-100.0, le=70.0, description="the plausible Celsius temperatures [-100, 70]")
]


class WeatherRecord(Record, frozen=True, tag=SCHEMA_VERSION):
    """One weather observation for a city. Kafka key: ``city``.

    Also accepted on the wire: ``""`` for the description or a sun time (taken as missing; an
    empty ``provider`` is ``"unknown"``), a timestamp with any offset (made UTC).
    """

    KIND: ClassVar[str] = "weather"

    city: City
    observed_at: datetime
    description: Annotated[str, msgspec.Meta(max_length=DESCRIPTION_MAX_CHARS)] | None
    temperature_c: Celsius
    feels_like_c: Finite | None = None
    temp_min_c: Finite | None = None
    temp_max_c: Finite | None = None
    pressure_hpa: Int32 | None = None
    humidity_pct: Int32 | None = None
    wind_speed_ms: Finite | None = None
    sunrise: datetime | None = None
    sunset: datetime | None = None
    provider: Label = "unknown"
    kind: Kind | None = KIND

    def __post_init__(self) -> None:
        set_ = msgspec.structs.force_setattr
        set_(self, "observed_at", utc_field("observed_at", self.observed_at))
        if self.sunrise is not None:
            set_(self, "sunrise", utc_field("sunrise", self.sunrise))
        if self.sunset is not None:
            set_(self, "sunset", utc_field("sunset", self.sunset))
        if self.description == "":
            set_(self, "description", None)
        if not self.provider:
            set_(self, "provider", "unknown")
        if self.kind is not self.KIND:
            self.check_kind(self.kind)

    @property
    def key(self) -> bytes:
        return self.city.encode("utf-8")

    @property
    def day(self) -> date:
        return self.observed_at.date()


def kelvin_to_celsius(kelvin: float) -> float:
    return round(kelvin - 273.15, 2)


WEATHER_TABLE = Table(
    name="weather_reports",
    columns=(
        Column("city", "text"),
        Column("day", "date", DERIVED),
        Column("observed_at", "timestamp"),
        Column("description", "text"),
        Column("temperature_c", "double"),
        Column("feels_like_c", "double"),
        Column("temp_min_c", "double"),
        Column("temp_max_c", "double"),
        Column("pressure_hpa", "int"),
        Column("humidity_pct", "int"),
        Column("wind_speed_ms", "double"),
        Column("sunrise", "timestamp"),
        Column("sunset", "timestamp"),
        Column("provider", "text"),
        Column("ingested_at", "timestamp", DRAIN),
    ),
    partition_key=("city", "day"),
    clustering=(("observed_at", "desc"),),
)

_build = WEATHER_TABLE.row_builder


def weather_row(record: WeatherRecord, ingested_at: datetime | None) -> tuple[Any, ...]:
    """The ``weather_reports`` row of an observation, as it is (columns: ``WEATHER_TABLE.drain_columns``)."""
    return _build(record, ingested_at)


def rows(records: Sequence[WeatherRecord], ingested_at: datetime | None) -> list[tuple[Any, ...]]:
    """The rows of a micro-batch of observations."""
    build = _build
    return [build(record, ingested_at) for record in records]


WEATHER = Stream(
    name="weather",
    record_type=WeatherRecord,
    topic_setting="weather_topic",
    table=WEATHER_TABLE,
    rows=rows,
    retention_setting="retention_days_weather_reports",
    retention_param="weather_retention_days",
    partitions_param="weather_partitions",
    csv_required=("city", "observed_at", "temperature_c"),
)
