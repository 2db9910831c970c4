"""The two record types that travel through Kafka, their JSON form and their validation.

Producers build records with these classes and drains decode with them, so the wire
format is defined once. Every value carries ``schema_version``; a drain rejects (and
dead-letters) a value whose version it does not know instead of guessing.

Validation also knows what Cassandra accepts, so a value that passes always binds and
writes: whole numbers fit its 32-bit ``int``, text encodes as UTF-8, and keys and texts
stay within the sizes below (each far under Cassandra's 64 KiB key limit). Every
rejection is an :class:`InvalidRecord` whose message is the dead-letter reason.
"""

from __future__ import annotations

import json
import math
from dataclasses import Field, asdict, dataclass, fields
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, TypeVar, overload

from kafkapipeline.settings import SCHEMA_VERSION

#: Cassandra ``int`` is a signed 32-bit integer: a larger count fails the driver's bind.
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
#: City (the partition key, and the weather topic's Kafka key): names in everyday use are
#: under 60 characters; 100 leaves room and keeps the key tiny next to the 64 KiB limit.
CITY_MAX_CHARS = 100
#: Post id (a clustering key): X and Mastodon ids are about 19 digits; 128 leaves room for a prefix.
TWEET_ID_MAX_CHARS = 128
#: Post text: X long posts reach 25,000 characters, Mastodon servers allow 500 by default
#: and a few thousand at most; nothing longer is a real post.
TEXT_MAX_CHARS = 25_000
#: Language tag: BCP 47 tags in real use are under 35 characters.
LANG_MAX_CHARS = 35
#: Author id, place id, source and provider names: ids or short labels; 300 fits even a
#: ``user@domain`` handle (domain names are at most 253 characters).
LABEL_MAX_CHARS = 300
#: Weather description: a few words from the provider ("light intensity drizzle").
DESCRIPTION_MAX_CHARS = 200
#: Record kind names ("tweet", "weather") are short; a longer value is not a kind.
KIND_MAX_CHARS = 20
#: How much of a bad value a reason quotes: reasons become dead-letter headers, keep them short.
SHOWN_CHARS = 80


class InvalidRecord(ValueError):
    """A value that cannot become a row; the message is the reason written to the dead-letter topic."""


def shown(value: Any) -> str:
    """``repr(value)`` cut to :data:`SHOWN_CHARS` (containers by their size: their repr can be huge)."""
    if isinstance(value, (dict, list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 256 else "a huge int"
    if len(text) > SHOWN_CHARS:
        return f"{text[:SHOWN_CHARS]}... ({len(text)} characters)"
    return text


def check_text(name: str, value: str, max_chars: int) -> str:
    """``value`` if it fits ``max_chars`` and encodes as UTF-8 (what the Cassandra bind does)."""
    if len(value) > max_chars:
        raise InvalidRecord(f"{name}: {len(value)} characters, more than the {max_chars} allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InvalidRecord(
            f"{name}: not encodable as UTF-8 ({err.reason} at character {err.start}, "
            f"{shown(value[err.start : err.end])})"
        ) from None
    return value


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
        raise InvalidRecord(f"{field_name}: expected an ISO-8601 timestamp, got {shown(value)}")
    try:
        return utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except (ValueError, OverflowError) as err:  # OverflowError: year 1 or 9999 moved to UTC
        raise InvalidRecord(f"{field_name}: not an ISO-8601 timestamp: {shown(value)}") from err


@overload
def _number(payload: dict[str, Any], name: str, *, optional: Literal[False] = False) -> float: ...
@overload
def _number(payload: dict[str, Any], name: str, *, optional: bool) -> float | None: ...
def _number(payload: dict[str, Any], name: str, *, optional: bool = False) -> float | None:
    value = payload.get(name)
    if value is None:
        if optional:
            return None
        raise InvalidRecord(f"{name}: required number is missing")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRecord(f"{name}: expected a finite number, got {shown(value)}")
    try:
        number = float(value)  # OverflowError: a JSON integer beyond the float range
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise InvalidRecord(f"{name}: expected a finite number, got {shown(value)}")
    return number


def _int(payload: dict[str, Any], name: str, *, optional: bool = True) -> int | None:
    number = _number(payload, name, optional=optional)
    if number is None:
        return None
    whole = round(number)
    if not INT32_MIN <= whole <= INT32_MAX:
        raise InvalidRecord(
            f"{name}: {shown(payload.get(name))} is outside Cassandra's int range [{INT32_MIN}, {INT32_MAX}]"
        )
    return whole


@overload
def _text(payload: dict[str, Any], name: str, max_chars: int, *, optional: Literal[False] = False) -> str: ...
@overload
def _text(payload: dict[str, Any], name: str, max_chars: int, *, optional: bool) -> str | None: ...
def _text(payload: dict[str, Any], name: str, max_chars: int, *, optional: bool = False) -> str | None:
    value = payload.get(name)
    if value is None or value == "":
        if optional:
            return None
        raise InvalidRecord(f"{name}: required text is missing")
    if not isinstance(value, str):
        raise InvalidRecord(f"{name}: expected text, got {type(value).__name__}")
    return check_text(name, value, max_chars)


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
    except RecursionError as err:
        raise InvalidRecord("value is not usable JSON: nested too deeply to parse") from err
    except Exception as err:  # untrusted bytes: whatever the parser raises, the value is unusable
        # e.g. ValueError for an integer of more than 4,300 digits, TypeError for a non-text value
        detail = str(err)[:SHOWN_CHARS]
        raise InvalidRecord(f"value is not usable JSON: {type(err).__name__}: {detail}") from err
    if not isinstance(payload, dict):
        raise InvalidRecord(f"value is JSON {type(payload).__name__}, expected an object")
    version = payload.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise InvalidRecord(f"schema_version {shown(version)} is not supported (expected {SCHEMA_VERSION})")
    kind = payload.get("kind")
    if kind is not None and (not isinstance(kind, str) or len(kind) > KIND_MAX_CHARS):
        raise InvalidRecord(f"kind: expected a record kind (tweet, weather), got {shown(kind)}")
    return payload


class _Record:
    kind: ClassVar[str]
    if TYPE_CHECKING:
        # What every record class has: @dataclass adds the fields, and each class its own from_dict.
        __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

        @classmethod
        def from_dict(cls, payload: dict[str, Any]) -> Self: ...

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
            if abs(tweet_id) >= 10**TWEET_ID_MAX_CHARS:
                raise InvalidRecord(f"tweet_id: a number of more than {TWEET_ID_MAX_CHARS} digits")
            tweet_id = str(tweet_id)
        if not isinstance(tweet_id, str) or not tweet_id.strip():
            raise InvalidRecord(f"tweet_id: required id is missing or not text: {shown(tweet_id)}")
        text = payload.get("text")
        if not isinstance(text, str):
            raise InvalidRecord("text: required text is missing")
        return cls(
            tweet_id=check_text("tweet_id", tweet_id.strip(), TWEET_ID_MAX_CHARS),
            text=check_text("text", text, TEXT_MAX_CHARS),
            created_at=parse_utc(payload.get("created_at"), "created_at"),
            city=_text(payload, "city", CITY_MAX_CHARS),
            lang=_text(payload, "lang", LANG_MAX_CHARS, optional=True),
            author_id=_text(payload, "author_id", LABEL_MAX_CHARS, optional=True),
            retweet_count=_int(payload, "retweet_count"),
            reply_count=_int(payload, "reply_count"),
            like_count=_int(payload, "like_count"),
            quote_count=_int(payload, "quote_count"),
            place_id=_text(payload, "place_id", LABEL_MAX_CHARS, optional=True),
            source=_text(payload, "source", LABEL_MAX_CHARS, optional=True) or "unknown",
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
            city=_text(payload, "city", CITY_MAX_CHARS),
            observed_at=parse_utc(payload.get("observed_at"), "observed_at"),
            description=_text(payload, "description", DESCRIPTION_MAX_CHARS, optional=True),
            temperature_c=temperature,
            feels_like_c=_number(payload, "feels_like_c", optional=True),
            temp_min_c=_number(payload, "temp_min_c", optional=True),
            temp_max_c=_number(payload, "temp_max_c", optional=True),
            pressure_hpa=_int(payload, "pressure_hpa"),
            humidity_pct=_int(payload, "humidity_pct"),
            wind_speed_ms=_number(payload, "wind_speed_ms", optional=True),
            sunrise=_optional_time(payload, "sunrise"),
            sunset=_optional_time(payload, "sunset"),
            provider=_text(payload, "provider", LABEL_MAX_CHARS, optional=True) or "unknown",
        )

    @classmethod
    def from_json(cls, raw: bytes | str | None) -> WeatherRecord:
        return cls.from_dict(decode_json_object(raw))


RecordT = TypeVar("RecordT", bound=_Record)


def decode_record(record_type: type[RecordT], raw: bytes | str | None) -> RecordT:
    """Decode and validate one Kafka value as ``record_type``, as the drain does.

    A value that declares another ``kind`` is refused: it was produced to the wrong topic.
    The ingest checks every value it produces with this, so it never produces what a drain
    must refuse. The common valid value takes :mod:`~kafkapipeline.records_fast` (msgspec);
    anything else takes :func:`decode_record_python`, whose outcome the shortcut equals.
    """
    record = records_fast.try_decode(record_type, raw)
    if record is not None:
        return record
    return decode_record_python(record_type, raw)


def decode_record_python(record_type: type[RecordT], raw: bytes | str | None) -> RecordT:
    """The reference decode: ``json.loads`` and the field rules above, every reason worded here."""
    payload = decode_json_object(raw)
    declared = payload.get("kind")
    if declared is not None and declared != record_type.kind:
        raise InvalidRecord(
            f"kind {shown(declared)} does not belong on this topic (expected {record_type.kind!r})"
        )
    return record_type.from_dict(payload)


def field_names(record_type: type[_Record]) -> list[str]:
    return [f.name for f in fields(record_type)]


def kelvin_to_celsius(kelvin: float) -> float:
    return round(kelvin - 273.15, 2)


# At the end: records_fast builds on the classes above (the import cycle is safe both ways,
# the module object is looked up at call time).
from kafkapipeline import records_fast  # noqa: E402
