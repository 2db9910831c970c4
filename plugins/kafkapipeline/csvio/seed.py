"""The original project's 2021 seed CSVs (no header): how their lines become records.

* ``seed_tweets``: ``text, timestamp, location, label``; ``seed_weather``: ``description, temp, feels_like,
  temp_min, temp_max`` (Kelvin), ``pressure, humidity, wind speed, sunrise, sunset``, ``city, report time``.
* Timestamps carry no zone and are read as UTC; a tweet's id is ``seed-`` + a SHA-256 prefix of its raw
  fields, so re-importing a file rewrites the same rows.
* Python-style escapes in the text are decoded; sentiment is recomputed with VADER like live tweets,
  the seed's own label kept in ``source_label``.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from kafkapipeline.sentiment.vader import LABELS
from kafkapipeline.streams.base import InvalidRecord
from kafkapipeline.streams.tweets import TWEETS_TABLE, TweetRecord, tweet_row
from kafkapipeline.streams.weather import WEATHER_TABLE, WeatherRecord, kelvin_to_celsius, weather_row

SEED_SOURCE = "seed-csv"
#: Seed locations that are not city names, and the city their rows are filed under.
SEED_LOCATION_CITIES = {"MetroVancouver": "Vancouver"}
SEED_TWEET_FIELDS = ("text", "timestamp", "location", "label")
SEED_WEATHER_FIELDS = (
    "description",
    "temp",
    "feels_like",
    "temp_min",
    "temp_max",
    "pressure",
    "humidity",
    "wind_speed",
    "sunrise",
    "sunset",
    "city",
    "report_time",
)
SEED_ID_PREFIX = "seed-"
SEED_ID_HEX_DIGITS = 24

_ESCAPE = re.compile(
    r"\\(?:"
    r"u(?P<high>[dD][89abAB][0-9a-fA-F]{2})\\u(?P<low>[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|u(?P<u4>[0-9a-fA-F]{4})"
    r"|U(?P<u8>[0-9a-fA-F]{8})"
    r"|x(?P<x2>[0-9a-fA-F]{2})"
    r"|(?P<simple>[nrt\\'\"])"
    r")"
)
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "'": "'", '"': '"'}
REPLACEMENT_CHARACTER = "\ufffd"


def _unescape_match(match: re.Match[str]) -> str:
    if match["high"]:
        high, low = int(match["high"], 16), int(match["low"], 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    if match["u4"]:
        code = int(match["u4"], 16)
        return REPLACEMENT_CHARACTER if 0xD800 <= code <= 0xDFFF else chr(code)
    if match["u8"]:
        code = int(match["u8"], 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return REPLACEMENT_CHARACTER
        return chr(code)
    if match["x2"]:
        return chr(int(match["x2"], 16))
    return _SIMPLE_ESCAPES[match["simple"]]


def decode_seed_text(text: str) -> str:
    """Decode the seed's Python-style escapes (a lone surrogate half becomes U+FFFD); the rest is kept."""
    if "\\" not in text:
        return text
    return _ESCAPE.sub(_unescape_match, text)


def seed_tweet_id(raw_timestamp: str, raw_text: str, raw_location: str) -> str:
    """A stable id for a seed tweet: the same raw fields always give the same id."""
    digest = hashlib.sha256("\x1f".join((raw_timestamp, raw_text, raw_location)).encode("utf-8"))
    return SEED_ID_PREFIX + digest.hexdigest()[:SEED_ID_HEX_DIGITS]


def seed_city(location: str) -> str:
    name = location.strip()
    if not name:
        raise InvalidRecord("location: required text is missing")
    return SEED_LOCATION_CITIES.get(name, name)


def _naive_utc(value: str, name: str) -> datetime:
    text = value.strip()
    if not text:
        raise InvalidRecord(f"{name}: required timestamp is missing")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRecord(f"{name}: not a timestamp: {text[:40]!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _expect_fields(fields: Sequence[str], names: Sequence[str]) -> None:
    if len(fields) != len(names):
        raise InvalidRecord(f"expected {len(names)} fields ({', '.join(names)}), got {len(fields)}")


def _seed_label(value: str) -> str | None:
    text = value.strip()
    if not text:
        return None
    for label in LABELS:
        if text.lower() == label.lower():
            return label
    raise InvalidRecord(f"label: {text[:40]!r} is not one of {', '.join(LABELS)}")


def parse_seed_tweet(fields: Sequence[str]) -> tuple[TweetRecord, str | None]:
    """A seed tweet line as a record and the seed's label; :class:`InvalidRecord` says what is wrong."""
    _expect_fields(fields, SEED_TWEET_FIELDS)
    raw_text, raw_timestamp, raw_location, raw_label = fields
    # from_dict, not the constructor: the record's constraints (a non-blank text) are checked here.
    record = TweetRecord.from_dict(
        {
            "tweet_id": seed_tweet_id(raw_timestamp, raw_text, raw_location),
            "text": decode_seed_text(raw_text),
            "created_at": _naive_utc(raw_timestamp, "timestamp"),
            "city": seed_city(raw_location),
            "source": SEED_SOURCE,
        }
    )
    return record, _seed_label(raw_label)


def _seed_number(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise InvalidRecord(f"{name}: not a number: {value[:40]!r}") from None
    if not math.isfinite(number):
        raise InvalidRecord(f"{name}: not a finite number: {value[:40]!r}")
    return number


def _epoch(value: str, name: str) -> datetime:
    seconds = _seed_number(value, name)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidRecord(f"{name}: {value[:40]!r} is not a usable epoch time") from None


def parse_seed_weather(fields: Sequence[str]) -> WeatherRecord:
    """A seed weather line as a record in Celsius; :class:`InvalidRecord` says what is wrong."""
    _expect_fields(fields, SEED_WEATHER_FIELDS)
    values = dict(zip(SEED_WEATHER_FIELDS, fields, strict=True))
    kelvin = {
        name: _seed_number(values[name], name) for name in ("temp", "feels_like", "temp_min", "temp_max")
    }
    return WeatherRecord.from_dict(
        {
            "city": seed_city(values["city"]),
            "observed_at": _naive_utc(values["report_time"], "report_time"),
            "description": values["description"].strip() or None,
            "temperature_c": kelvin_to_celsius(kelvin["temp"]),
            "feels_like_c": kelvin_to_celsius(kelvin["feels_like"]),
            "temp_min_c": kelvin_to_celsius(kelvin["temp_min"]),
            "temp_max_c": kelvin_to_celsius(kelvin["temp_max"]),
            "pressure_hpa": round(_seed_number(values["pressure"], "pressure")),
            "humidity_pct": round(_seed_number(values["humidity"], "humidity")),
            "wind_speed_ms": _seed_number(values["wind_speed"], "wind_speed"),
            "sunrise": _epoch(values["sunrise"], "sunrise"),
            "sunset": _epoch(values["sunset"], "sunset"),
            "provider": SEED_SOURCE,
        }
    )


def seed_tweet_row(fields: Sequence[str], imported_at: datetime) -> tuple[Any, ...]:
    record, label = parse_seed_tweet(fields)
    return (*tweet_row(record, imported_at), *TWEETS_TABLE.later_values({"source_label": label}))


def seed_weather_row(fields: Sequence[str], imported_at: datetime) -> tuple[Any, ...]:
    return (*weather_row(parse_seed_weather(fields), imported_at), *WEATHER_TABLE.later_values({}))
