"""The two record types that travel through Kafka, their JSON form and their validation.

Producers build records with these classes and drains decode with them, so the wire
format is defined once. Every value carries ``schema_version``; a drain rejects (and
dead-letters) a value whose version it does not know instead of guessing.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from kafkapipeline.settings import SCHEMA_VERSION


class InvalidRecord(ValueError):
    """A value that cannot become a row; the message is the reason written to the dead-letter topic."""


def utc(moment: datetime) -> datetime:
    """Normalise to an aware UTC datetime (naive input is taken as UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def isoformat_utc(moment: datetime) -> str:
    return utc(moment).isoformat().replace("+00:00", "Z")


def parse_utc(value: Any, field_name: str) -> datetime:
    if isinstance(value, datetime):
        return utc(value)
    if not isinstance(value, str) or not value:
        raise InvalidRecord(f"{field_name}: expected an ISO-8601 timestamp, got {value!r}")
    try:
        return utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError as err:
        raise InvalidRecord(f"{field_name}: not an ISO-8601 timestamp: {value!r}") from err


def _number(payload: dict[str, Any], name: str, *, optional: bool = False) -> float | None:
    value = payload.get(name)
    if value is None:
        if optional:
            return None
        raise InvalidRecord(f"{name}: required number is missing")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidRecord(f"{name}: expected a finite number, got {value!r}")
    return float(value)


def _int(payload: dict[str, Any], name: str, *, optional: bool = True) -> int | None:
    number = _number(payload, name, optional=optional)
    return None if number is None else round(number)


def _text(payload: dict[str, Any], name: str, *, optional: bool = False) -> str | None:
    value = payload.get(name)
    if value is None or value == "":
        if optional:
            return None
        raise InvalidRecord(f"{name}: required text is missing")
    if not isinstance(value, str):
        raise InvalidRecord(f"{name}: expected text, got {type(value).__name__}")
    return value


def _optional_time(payload: dict[str, Any], name: str) -> datetime | None:
    value = payload.get(name)
    return None if value in (None, "") else parse_utc(value, name)


def decode_json_object(raw: bytes | str | None) -> dict[str, Any]:
    if raw is None:
        raise InvalidRecord("value is empty (null message)")
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidRecord(f"value is not JSON: {err}") from err
    if not isinstance(payload, dict):
        raise InvalidRecord(f"value is JSON {type(payload).__name__}, expected an object")
    version = payload.get("schema_version")
    if version != SCHEMA_VERSION:
        raise InvalidRecord(f"schema_version {version!r} is not supported (expected {SCHEMA_VERSION})")
    return payload


class _Record:
    kind: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "kind": self.kind}
        for key, value in asdict(self).items():
            out[key] = isoformat_utc(value) if isinstance(value, datetime) else value
        return out

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True).encode("utf-8")


@dataclass(frozen=True)
class TweetRecord(_Record):
    """One tweet as produced to the tweets topic. Kafka key: ``tweet_id``."""

    kind: ClassVar[str] = "tweet"

    tweet_id: str
    text: str
    created_at: datetime
    city: str
    lang: str | None = None
    author_id: str | None = None
    retweet_count: int | None = None
    reply_count: int | None = None
    like_count: int | None = None
    quote_count: int | None = None
    place_id: str | None = None
    source: str = "unknown"

    @property
    def key(self) -> bytes:
        return self.tweet_id.encode("utf-8")

    @property
    def day(self) -> date:
        return utc(self.created_at).date()

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> TweetRecord:
        tweet_id = payload.get("tweet_id")
        if isinstance(tweet_id, int) and not isinstance(tweet_id, bool):
            tweet_id = str(tweet_id)
        if not isinstance(tweet_id, str) or not tweet_id.strip():
            raise InvalidRecord(f"tweet_id: required id is missing or not text: {tweet_id!r}")
        text = payload.get("text")
        if not isinstance(text, str):
            raise InvalidRecord("text: required text is missing")
        return cls(
            tweet_id=tweet_id.strip(),
            text=text,
            created_at=parse_utc(payload.get("created_at"), "created_at"),
            city=_text(payload, "city"),
            lang=_text(payload, "lang", optional=True),
            author_id=_text(payload, "author_id", optional=True),
            retweet_count=_int(payload, "retweet_count"),
            reply_count=_int(payload, "reply_count"),
            like_count=_int(payload, "like_count"),
            quote_count=_int(payload, "quote_count"),
            place_id=_text(payload, "place_id", optional=True),
            source=_text(payload, "source", optional=True) or "unknown",
        )

    @classmethod
    def from_json(cls, raw: bytes | str | None) -> TweetRecord:
        return cls.from_dict(decode_json_object(raw))


@dataclass(frozen=True)
class WeatherRecord(_Record):
    """One weather observation for a city, temperatures in Celsius. Kafka key: ``city``."""

    kind: ClassVar[str] = "weather"

    city: str
    observed_at: datetime
    description: str | None
    temperature_c: float
    feels_like_c: float | None = None
    temp_min_c: float | None = None
    temp_max_c: float | None = None
    pressure_hpa: int | None = None
    humidity_pct: int | None = None
    wind_speed_ms: float | None = None
    sunrise: datetime | None = None
    sunset: datetime | None = None
    provider: str = "unknown"

    @property
    def key(self) -> bytes:
        return self.city.encode("utf-8")

    @property
    def day(self) -> date:
        return utc(self.observed_at).date()

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> WeatherRecord:
        temperature = _number(payload, "temperature_c")
        if not -100.0 <= temperature <= 70.0:
            raise InvalidRecord(f"temperature_c: {temperature} is not a plausible Celsius temperature")
        return cls(
            city=_text(payload, "city"),
            observed_at=parse_utc(payload.get("observed_at"), "observed_at"),
            description=_text(payload, "description", optional=True),
            temperature_c=temperature,
            feels_like_c=_number(payload, "feels_like_c", optional=True),
            temp_min_c=_number(payload, "temp_min_c", optional=True),
            temp_max_c=_number(payload, "temp_max_c", optional=True),
            pressure_hpa=_int(payload, "pressure_hpa"),
            humidity_pct=_int(payload, "humidity_pct"),
            wind_speed_ms=_number(payload, "wind_speed_ms", optional=True),
            sunrise=_optional_time(payload, "sunrise"),
            sunset=_optional_time(payload, "sunset"),
            provider=_text(payload, "provider", optional=True) or "unknown",
        )

    @classmethod
    def from_json(cls, raw: bytes | str | None) -> WeatherRecord:
        return cls.from_dict(decode_json_object(raw))


def field_names(record_type: type[_Record]) -> list[str]:
    return [f.name for f in fields(record_type)]  # type: ignore[arg-type]


def kelvin_to_celsius(kelvin: float) -> float:
    return round(kelvin - 273.15, 2)
