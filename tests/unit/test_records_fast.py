"""The msgspec shortcut decodes exactly as the Python path does.

``decode_record`` tries :mod:`kafkapipeline.records_fast` first and falls back to
``decode_record_python``. Whatever the value, both must end the same: an equal record
(same field types, same floats to the sign, datetimes with the same tzinfo) or an
:class:`InvalidRecord` with the identical reason (the dead-letter topic relies on it).
Hypothesis throws random bytes, random JSON, near-valid records (one or two fields
mutated, bytes flipped, keys escaped or duplicated) and valid records at both kinds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kafkapipeline import records_fast
from kafkapipeline.records import (
    InvalidRecord,
    TweetRecord,
    WeatherRecord,
    decode_record,
    decode_record_python,
    field_names,
)
from tests.unit.test_records_properties import (
    BASE,
    PLACEHOLDER,
    PROPERTIES,
    json_values,
    raw_fragments,
    replacements,
    valid_tweets,
    valid_weather,
)

TYPES = {"tweet": TweetRecord, "weather": WeatherRecord}
KINDS = tuple(TYPES)


def fingerprint(record: Any) -> tuple[Any, ...]:
    """Every field by name, type and repr: tells 0.0 from -0.0, 3 from 3.0, UTC from +00:00."""
    return (
        type(record),
        *(
            (name, type(getattr(record, name)), repr(getattr(record, name)))
            for name in field_names(type(record))
        ),
    )


def outcome(decode: Any, kind: str, raw: Any) -> tuple[str, Any]:
    try:
        record = decode(TYPES[kind], raw)
    except InvalidRecord as err:
        return ("invalid", str(err))
    return ("record", fingerprint(record))


def assert_same(kind: str, raw: Any) -> tuple[str, Any]:
    """The fast-first decode ends as the Python path does; returns that outcome."""
    expected = outcome(decode_record_python, kind, raw)
    assert outcome(decode_record, kind, raw) == expected
    shortcut = records_fast.try_decode(TYPES[kind], raw)
    if shortcut is not None:  # the shortcut only ever answers with the Python path's record
        assert expected == ("record", fingerprint(shortcut))
    return expected


# --- random input ----------------------------------------------------------------------


@PROPERTIES
@given(kind=st.sampled_from(KINDS), value=st.binary(max_size=2_000))
def test_random_bytes_decode_as_the_python_path_does(kind, value):
    assert_same(kind, value)


@PROPERTIES
@given(kind=st.sampled_from(KINDS), value=json_values, ascii_only=st.booleans())
def test_random_json_decodes_as_the_python_path_does(kind, value, ascii_only):
    assert_same(kind, json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))


@PROPERTIES
@given(
    kind=st.sampled_from(KINDS),
    payload=st.dictionaries(st.sampled_from([*BASE["tweet"], *BASE["weather"], "extra"]), json_values),
)
def test_random_objects_with_the_schema_version_decode_as_the_python_path_does(kind, payload):
    assert_same(kind, json.dumps({**payload, "schema_version": 1}).encode())


# --- near-valid records ---------------------------------------------------------------

offsets = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59))
timestamp_texts = st.builds(
    lambda moment, zone, sep, timespec, z_form: z_form(
        moment.replace(tzinfo=zone).isoformat(sep=sep, timespec=timespec)
    ),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    st.none() | st.just(UTC) | offsets.map(timezone),
    st.sampled_from(["T", " ", "t", "x"]),
    st.sampled_from(["auto", "seconds", "milliseconds", "microseconds", "minutes", "hours"]),
    st.sampled_from(
        [
            lambda text: text,
            lambda text: text.replace("+00:00", "Z"),
            lambda text: text.replace("+00:00", "z"),
            lambda text: text + "0001",  # more than 6 fractional digits (or junk)
            lambda text: text[:10],  # date only
            lambda text: text.replace("-", "", 2),  # basic format
            lambda text: text.replace(":", "", 1),
        ]
    ),
)
#: Values the Python path accepts that a strict decoder might not, and near misses.
field_values = st.one_of(
    replacements,
    timestamp_texts,
    st.sampled_from(["", " ", " 42 ", "\t1\n", "\u2003x", 0, -1, 3.0, 3.5, 2.5, -0.0, 0.0, 1.0, True, None]),
    st.sampled_from(
        [2147483647.4, 2147483647.5, -2147483648.5, -2147483648.6, 70.0, 70.0000001, -100.0, 1e308]
    ),
    st.integers(-(10**130), 10**130),
    st.sampled_from(["tweet", "weather", "Tweet", "x" * 21, "x" * 20]),
)


def mutate(draw: st.DrawFn, payload: dict[str, Any]) -> None:
    name = draw(st.sampled_from([*payload, "extra", "Tweet_id", "city "]))
    how = draw(st.sampled_from(["value", "value", "delete"]))
    if how == "delete":
        payload.pop(name, None)
    else:
        payload[name] = draw(field_values)


def duplicated(draw: st.DrawFn, raw: bytes, payload: dict[str, Any]) -> bytes:
    """A key twice, first or last: json.loads keeps the last value."""
    name = draw(st.sampled_from(list(payload) or ["city"]))
    extra = json.dumps({name: draw(field_values)}, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return raw[:-1] + b", " + extra[1:] if draw(st.booleans()) else b"{" + extra[1:-1] + b", " + raw[1:]


def flipped(draw: st.DrawFn, raw: bytes, payload: dict[str, Any]) -> bytes:
    """One byte replaced, inserted or deleted."""
    at = draw(st.integers(0, max(len(raw) - 1, 0)))
    byte = bytes([draw(st.integers(0, 255))])
    how = draw(st.sampled_from(["replace", "insert", "delete"]))
    return raw[:at] + (b"" if how == "delete" else byte) + raw[at + (0 if how == "insert" else 1) :]


FORMS = {
    "as is": lambda draw, raw, payload: raw,
    "bom": lambda draw, raw, payload: b"\xef\xbb\xbf" + raw,
    # an escaped key ("\u0063ity") is the same key ("city") to json.loads
    "escaped key": lambda draw, raw, payload: raw.replace(b'"c', b'"\\u0063', 1).replace(b'"t', b'"\\u0074'),
    "duplicate": duplicated,
    "flip": flipped,
}


@st.composite
def near_valid_values(draw: st.DrawFn, kind: str) -> bytes | str:
    payload = dict(BASE[kind])
    for _ in range(draw(st.integers(1, 2))):
        mutate(draw, payload)
    if draw(st.integers(0, 5)) == 0:  # spliced JSON text: huge numbers, nesting, surrogate escapes
        payload[draw(st.sampled_from([*payload, "extra"]))] = PLACEHOLDER
        return json.dumps(payload).replace(f'"{PLACEHOLDER}"', draw(raw_fragments)).encode()
    text = json.dumps(payload, ensure_ascii=draw(st.booleans()), sort_keys=draw(st.booleans()))
    if draw(st.integers(0, 7)) == 0:
        return text  # a str value: the Python path's alone
    form = FORMS[draw(st.sampled_from(["as is", "as is", *FORMS]))]
    return form(draw, text.encode("utf-8", "surrogatepass"), payload)


@PROPERTIES
@given(value=near_valid_values("tweet"))
def test_near_valid_tweets_decode_as_the_python_path_does(value):
    assert_same("tweet", value)


@PROPERTIES
@given(value=near_valid_values("weather"))
def test_near_valid_weather_decodes_as_the_python_path_does(value):
    assert_same("weather", value)


@PROPERTIES
@given(kind=st.sampled_from(KINDS), value=near_valid_values("tweet") | near_valid_values("weather"))
def test_a_value_of_the_other_kind_decodes_as_the_python_path_does(kind, value):
    assert_same(kind, value)


# --- valid records take the shortcut ----------------------------------------------------


@PROPERTIES
@given(record=valid_tweets | valid_weather)
def test_a_valid_record_takes_the_shortcut_and_decodes_to_itself(record):
    raw = record.to_json()
    shortcut = records_fast.try_decode(type(record), raw)
    assert shortcut is not None, raw[:300]
    assert shortcut == record  # equal, not identical: fold=1 does not travel in JSON
    assert assert_same(record.kind, raw) == ("record", fingerprint(shortcut))
