"""A msgspec shortcut for decoding the common, valid Kafka value; the rules stay in :mod:`records`.

:func:`kafkapipeline.records.decode_record` asks :func:`try_decode` first. It decodes the
value with a cached :class:`msgspec.json.Decoder` into a strict wire struct (exact field
set, types and limits from :mod:`kafkapipeline.records`) and builds the record. Whenever
the shortcut cannot be *sure* that the Python path would give the same record, it returns
``None`` and the Python path decides: it gives the record, or the :class:`InvalidRecord`
whose message is the dead-letter reason. So the outcome is always the Python path's; only
its cost changes. ``tests/unit/streams/test_records_fast.py`` proves the equivalence.

Why each difference from the Python path is safe (msgspec 0.22, pinned):

* Unknown fields are *forbidden* here (the Python path ignores them): so msgspec never
  skips over a value it would judge differently from ``json.loads`` (an integer of more
  than 4,300 digits, deep nesting, a lone surrogate); such a value takes the Python path.
* msgspec refuses invalid UTF-8 and ``\\uXXXX`` escapes that leave a lone surrogate, so
  every text it returns encodes as UTF-8 (what :func:`records.check_text` verifies).
  Only ``bytes`` take the shortcut (a ``str`` may hold a surrogate itself).
* msgspec refuses a JSON float for an ``int`` field and ``""`` is mapped to ``None`` as
  the Python path does; floats for counts, ``1.0`` for ``schema_version``, a number for
  ``tweet_id``, ``NaN`` literals, a UTF-8 BOM and any text over a limit take the Python path.
* Timestamps are decoded as text and parsed as :func:`records.parse_utc` does (the same
  ``fromisoformat`` and :func:`records.utc`: ``Z``, offsets and naive times as UTC, same tzinfo).
* Duplicate keys: msgspec keeps the last value, as ``json.loads`` does.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

from kafkapipeline.records import (
    CITY_MAX_CHARS,
    DESCRIPTION_MAX_CHARS,
    INT32_MAX,
    INT32_MIN,
    LABEL_MAX_CHARS,
    LANG_MAX_CHARS,
    TEXT_MAX_CHARS,
    TWEET_ID_MAX_CHARS,
    TweetRecord,
    WeatherRecord,
    field_names,
    utc,
)
from kafkapipeline.settings import SCHEMA_VERSION

Version = Annotated[int, msgspec.Meta(ge=SCHEMA_VERSION, le=SCHEMA_VERSION)]
Int32 = Annotated[int, msgspec.Meta(ge=INT32_MIN, le=INT32_MAX)]
#: Finite floats only: msgspec has no NaN literal, and the bounds refuse +-inf.
Finite = Annotated[float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)]
Celsius = Annotated[float, msgspec.Meta(ge=-100.0, le=70.0)]
#: Required timestamps: non-empty text, parsed afterwards by ``parse_utc``.
Timestamp = Annotated[str, msgspec.Meta(min_length=1)]
City = Annotated[str, msgspec.Meta(min_length=1, max_length=CITY_MAX_CHARS)]
Label = Annotated[str, msgspec.Meta(max_length=LABEL_MAX_CHARS)]


class TweetWire(msgspec.Struct, forbid_unknown_fields=True):
    """A tweet value as the producers write it (``TweetRecord.to_json``)."""

    schema_version: Version
    tweet_id: Annotated[str, msgspec.Meta(max_length=TWEET_ID_MAX_CHARS)]
    text: Annotated[str, msgspec.Meta(max_length=TEXT_MAX_CHARS)]
    created_at: Timestamp
    city: City
    kind: Literal["tweet"] | None = None
    lang: Annotated[str, msgspec.Meta(max_length=LANG_MAX_CHARS)] | None = None
    author_id: Label | None = None
    retweet_count: Int32 | None = None
    reply_count: Int32 | None = None
    like_count: Int32 | None = None
    quote_count: Int32 | None = None
    place_id: Label | None = None
    source: Label | None = None


class WeatherWire(msgspec.Struct, forbid_unknown_fields=True):
    """A weather value as the producers write it (``WeatherRecord.to_json``)."""

    schema_version: Version
    city: City
    observed_at: Timestamp
    temperature_c: Celsius
    kind: Literal["weather"] | None = None
    description: Annotated[str, msgspec.Meta(max_length=DESCRIPTION_MAX_CHARS)] | None = None
    feels_like_c: Finite | None = None
    temp_min_c: Finite | None = None
    temp_max_c: Finite | None = None
    pressure_hpa: Int32 | None = None
    humidity_pct: Int32 | None = None
    wind_speed_ms: Finite | None = None
    sunrise: str | None = None
    sunset: str | None = None
    provider: Label | None = None


TWEET_DECODER = msgspec.json.Decoder(TweetWire)
WEATHER_DECODER = msgspec.json.Decoder(WeatherWire)


def _record(record_type: type[Any], values: dict[str, Any]) -> Any:
    """A frozen record from already-validated values, without the dataclass ``__init__``.

    The frozen ``__init__`` sets each field through ``object.__setattr__`` (about 1.7 µs a
    tweet, more than the msgspec decode); the records have no ``__post_init__``, so filling
    ``__dict__`` gives an equal object.
    """
    record = object.__new__(record_type)
    record.__dict__.update(values)
    return record


def _moment(text: str) -> datetime:
    """``records.parse_utc(text)`` (its errors mean: ask the Python path), sooner for UTC text."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo is UTC else utc(moment)  # UTC already: utc() would not change it


def _tweet(raw: bytes) -> TweetRecord | None:
    wire = TWEET_DECODER.decode(raw)
    tweet_id = wire.tweet_id.strip()
    if not tweet_id:
        return None
    return _record(
        TweetRecord,
        {
            "tweet_id": tweet_id,
            "text": wire.text,
            "created_at": _moment(wire.created_at),
            "city": wire.city,
            "lang": wire.lang or None,
            "author_id": wire.author_id or None,
            "retweet_count": wire.retweet_count,
            "reply_count": wire.reply_count,
            "like_count": wire.like_count,
            "quote_count": wire.quote_count,
            "place_id": wire.place_id or None,
            "source": wire.source or "unknown",
        },
    )


def _optional_time(value: str | None) -> datetime | None:
    return _moment(value) if value else None


def _weather(raw: bytes) -> WeatherRecord:
    wire = WEATHER_DECODER.decode(raw)
    return _record(
        WeatherRecord,
        {
            "city": wire.city,
            "observed_at": _moment(wire.observed_at),
            "description": wire.description or None,
            "temperature_c": wire.temperature_c,
            "feels_like_c": wire.feels_like_c,
            "temp_min_c": wire.temp_min_c,
            "temp_max_c": wire.temp_max_c,
            "pressure_hpa": wire.pressure_hpa,
            "humidity_pct": wire.humidity_pct,
            "wind_speed_ms": wire.wind_speed_ms,
            "sunrise": _optional_time(wire.sunrise),
            "sunset": _optional_time(wire.sunset),
            "provider": wire.provider or "unknown",
        },
    )


_DECODERS = {TweetRecord: _tweet, WeatherRecord: _weather}


def try_decode(record_type: type[Any], raw: object) -> Any:
    """The record the Python path would give for ``raw``, or ``None``: ask the Python path.

    ``None`` covers every invalid value (the Python path words the reason) and the valid
    values this shortcut does not express exactly (see the module docstring).
    """
    if type(raw) is not bytes:
        return None
    decode = _DECODERS.get(record_type)
    if decode is None:
        return None
    try:
        return decode(raw)
    except Exception:  # any failure, even UnicodeDecodeError: the Python path decides
        return None


def _check_fields() -> None:
    """Fail at import if a record changes in a way the shortcut does not mirror."""
    for record_type, wire in ((TweetRecord, TweetWire), (WeatherRecord, WeatherWire)):
        expected = set(field_names(record_type)) | {"schema_version", "kind"}
        if set(wire.__struct_fields__) != expected:
            raise ImportError(f"{wire.__name__} does not mirror {record_type.__name__}'s fields")
        if hasattr(record_type, "__post_init__") or "__slots__" in vars(record_type):
            raise ImportError(f"{record_type.__name__} needs its __init__: _record() would skip it")


_check_fields()
