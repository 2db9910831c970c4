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
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kafkapipeline import records_fast
from kafkapipeline.records import (
    CITY_MAX_CHARS,
    DESCRIPTION_MAX_CHARS,
    INT32_MAX,
    INT32_MIN,
    KIND_MAX_CHARS,
    LABEL_MAX_CHARS,
    LANG_MAX_CHARS,
    TEXT_MAX_CHARS,
    TWEET_ID_MAX_CHARS,
    InvalidRecord,
    TweetRecord,
    WeatherRecord,
    decode_record,
    decode_record_python,
    field_names,
)
from tests.unit.streams.test_records_properties import (
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


def text_edges(limit: int) -> list[str]:
    """Texts at and around a limit: empty, blank, padded, one character over (also in emoji)."""
    return ["", " ", "\t7\n", "\u2003x", "x" * limit, "x" * (limit + 1), "😀" * limit, "😀" * (limit + 1),
            " " + "x" * limit + " ", " " + "x" * (limit - 2) + " ", "é" * (limit + 1)]  # fmt: skip


INT_EDGES = [INT32_MAX, INT32_MAX + 1, INT32_MIN, INT32_MIN - 1, 2**63, 2**64, 0, -0.0, 3.0, 3.5, 2.5,
             2147483647.4, 2147483647.5, -2147483648.5, -2147483648.6, 1e10, "3", True, False]  # fmt: skip
FLOAT_EDGES = [70, 70.0, 70.00000000000001, 69.99999999999999, -100, -100.0, -100.00000000000001,
               -0.0, 0, 1.7976931348623157e308, -1.7976931348623157e308, 5e-324, 10**308, 10**309,
               float("inf"), float("nan"), "12.5", True]  # fmt: skip
#: Per field, the values at the edges of its rule (the limits come from records.py).
EDGES: dict[str, list[Any]] = {
    "schema_version": [1, 1.0, True, 2, 0, "1", None, 1 + 2**64],
    "kind": ["tweet", "weather", None, "", "x" * KIND_MAX_CHARS, "x" * (KIND_MAX_CHARS + 1), 7, ["tweet"]],
    "tweet_id": [*text_edges(TWEET_ID_MAX_CHARS), 7, -7, 0, 10**127, 10**128, -(10**128), 1.5, True],
    "text": text_edges(TEXT_MAX_CHARS),
    "city": text_edges(CITY_MAX_CHARS),
    "lang": text_edges(LANG_MAX_CHARS),
    "description": text_edges(DESCRIPTION_MAX_CHARS),
    **{name: text_edges(LABEL_MAX_CHARS) for name in ("author_id", "place_id", "source", "provider")},
    **{name: INT_EDGES for name in ("retweet_count", "reply_count", "like_count", "quote_count")},
    **{name: INT_EDGES for name in ("pressure_hpa", "humidity_pct")},
    **{name: FLOAT_EDGES for name in ("temperature_c", "feels_like_c", "temp_min_c", "temp_max_c")},
    "wind_speed_ms": FLOAT_EDGES,
}


def mutate(draw: st.DrawFn, payload: dict[str, Any]) -> None:
    name = draw(st.sampled_from([*payload, "extra", "Tweet_id", "city "]))
    how = draw(st.sampled_from(["value", "value", "delete"]))
    if how == "delete":
        payload.pop(name, None)
    elif name in ("created_at", "observed_at", "sunrise", "sunset"):
        payload[name] = draw(timestamp_texts | field_values)
    else:
        payload[name] = draw(st.sampled_from(EDGES.get(name, [None])) | field_values)


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


# --- every rule, at its edges ----------------------------------------------------------

TIMESTAMP_EDGES = [
    "2024-05-01T23:59:58.123000Z", "2024-05-01T23:59:58Z", "2024-05-01T23:59:58+00:00",
    "2024-05-01T23:59:58-00:00", "2024-05-01T23:59:58+05:30", "2024-05-01T23:59:58.1234567Z",
    "2024-05-01T23:59:58", "2024-05-01 23:59:58Z", "2024-05-01t23:59:58z", "2024-05-01",
    "20240501T235958Z", "2024-05-01T23:59:60Z", "2024-05-01T24:00:00Z", "2024-05-01T23:59:58+24:00",
    "0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00", "9999-12-31T23:59:59.999999Z",
    "2024-02-30T00:00:00Z", "2024-05-01T23:59:58ZZ", "Z", "", " ", None, 0, 1714600000, True,
]  # fmt: skip
TIME_FIELDS = {"tweet": ["created_at"], "weather": ["observed_at", "sunrise", "sunset"]}
EDGE_CASES = [
    (kind, name, values)
    for kind in KINDS
    for name, values in [
        *((name, EDGES[name]) for name in [*BASE[kind], "extra"] if name in EDGES),
        *((name, TIMESTAMP_EDGES) for name in TIME_FIELDS[kind]),
    ]
]


@pytest.mark.parametrize(("kind", "name", "values"), EDGE_CASES, ids=[f"{k}-{n}" for k, n, _ in EDGE_CASES])
def test_every_field_at_the_edges_of_its_rule_decodes_as_the_python_path_does(kind, name, values):
    outcomes = set()
    for value in [*values, "__missing__"]:
        payload = {key: item for key, item in BASE[kind].items() if key != name}
        if value != "__missing__":
            payload[name] = value
        for text in {json.dumps(payload), json.dumps(payload, ensure_ascii=False)}:
            outcomes.add(assert_same(kind, text.encode("utf-8", "surrogatepass"))[0])
    assert outcomes == {"record", "invalid"}  # each field's edges hold values on both sides


def value_with(record_kind: str, /, **changes: Any) -> bytes:
    payload = {**BASE[record_kind], **changes}
    return json.dumps({key: value for key, value in payload.items() if value is not ...}).encode()


@pytest.mark.parametrize(
    ("kind", "raw", "reason"),
    [
        ("tweet", b"", "value is not JSON: Expecting value: line 1 column 1 (char 0)"),
        ("tweet", None, "value is empty (null message)"),
        ("tweet", b"[1]", "value is JSON list, expected an object"),
        ("tweet", value_with("tweet", schema_version=2), "schema_version 2 is not supported (expected 1)"),
        (
            "tweet",
            value_with("tweet", schema_version=True),
            "schema_version True is not supported (expected 1)",
        ),
        (
            "tweet",
            value_with("tweet", kind="weather"),
            "kind 'weather' does not belong on this topic (expected 'tweet')",
        ),
        (
            "weather",
            value_with("weather", kind="x" * 21),
            f"kind: expected a record kind (tweet, weather), got {'x' * 21!r}",
        ),
        ("tweet", value_with("tweet", tweet_id="  "), "tweet_id: required id is missing or not text: '  '"),
        (
            "tweet",
            value_with("tweet", tweet_id="9" * 129),
            "tweet_id: 129 characters, more than the 128 allowed",
        ),
        ("tweet", value_with("tweet", text=...), "text: required text is missing"),
        ("tweet", value_with("tweet", city=""), "city: required text is missing"),
        (
            "tweet",
            value_with("tweet", like_count=2**31),
            "like_count: 2147483648 is outside Cassandra's int range [-2147483648, 2147483647]",
        ),
        ("tweet", value_with("tweet", lang="x" * 36), "lang: 36 characters, more than the 35 allowed"),
        (
            "tweet",
            value_with("tweet", created_at="yesterday"),
            "created_at: not an ISO-8601 timestamp: 'yesterday'",
        ),
        (
            "tweet",
            value_with("tweet", text="a\ud800"),
            "text: not encodable as UTF-8 (surrogates not allowed at character 1, '\\ud800')",
        ),
        (
            "weather",
            value_with("weather", temperature_c=70.5),
            "temperature_c: 70.5 is not a plausible Celsius temperature",
        ),
        (
            "weather",
            value_with("weather", humidity_pct=1.5e10),
            "humidity_pct: 15000000000.0 is outside Cassandra's int range [-2147483648, 2147483647]",
        ),
        (
            "weather",
            value_with("weather", wind_speed_ms=float("nan")),
            "wind_speed_ms: expected a finite number, got nan",
        ),
        ("weather", value_with("weather", sunrise=5), "sunrise: expected an ISO-8601 timestamp, got 5"),
    ],
)
def test_an_invalid_value_gets_the_python_paths_reason(kind, raw, reason):
    assert records_fast.try_decode(TYPES[kind], raw) is None
    assert assert_same(kind, raw) == ("invalid", reason)


@pytest.mark.parametrize(
    ("kind", "changes", "expected"),
    [
        ("tweet", {"tweet_id": 1578516068309794817}, {"tweet_id": "1578516068309794817"}),
        ("tweet", {"tweet_id": " 42\n"}, {"tweet_id": "42"}),
        ("tweet", {"like_count": 2.5, "reply_count": 3.0}, {"like_count": 2, "reply_count": 3}),
        ("tweet", {"lang": "", "source": "", "kind": ...}, {"lang": None, "source": "unknown"}),
        (
            "tweet",
            {"created_at": "2024-05-01T23:00:00-02:00"},
            {"created_at": datetime(2024, 5, 2, 1, tzinfo=UTC)},
        ),
        (
            "tweet",
            {"created_at": "2024-05-01T23:00:00"},
            {"created_at": datetime(2024, 5, 1, 23, tzinfo=UTC)},
        ),
        ("tweet", {"extra": [1, {"a": 2}], "schema_version": 1.0}, {}),
        (
            "weather",
            {"temperature_c": 70, "pressure_hpa": None, "sunset": ""},
            {"temperature_c": 70.0, "pressure_hpa": None, "sunset": None},
        ),
    ],
)
def test_a_value_the_python_path_accepts_gives_the_same_record(kind, changes, expected):
    raw = value_with(kind, **changes)
    base = decode_record_python(TYPES[kind], json.dumps(BASE[kind]).encode())
    assert assert_same(kind, raw) == ("record", fingerprint(replace(base, **expected)))


def test_msgspec_refuses_what_the_shortcut_relies_on_it_refusing():
    """The shortcut skips check_text's UTF-8 test and the NaN test: msgspec must refuse these."""
    for raw in [b'"\\ud800"', b'"a\\udfffb"', b'"\\ud83d\\u0041"', b'"\xed\xa0\x80"', b'"\xff"', b'"a\x1fb"']:
        with pytest.raises((msgspec.DecodeError, UnicodeDecodeError)):
            msgspec.json.decode(raw, type=str)
    assert msgspec.json.decode(b'"\\ud83d\\ude00"', type=str) == "😀"
    assert msgspec.json.decode(b'{"a": 1, "a": 2}') == {"a": 2}  # last wins, as in json.loads


@pytest.mark.parametrize("first", ["kafkapipeline.records", "kafkapipeline.records_fast"])
def test_either_module_imports_first(first):
    """records imports records_fast at its end and records_fast builds on records: no cycle error."""
    code = f"import {first}; from kafkapipeline.records import TweetRecord, decode_record; print('ok')"
    plugins = str(Path(__file__).resolve().parents[3] / "plugins")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": plugins},
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr
