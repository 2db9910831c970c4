"""The dead-letter contract cannot fail on a message's content: copies that are too large are cut
(and say so), garbage headers fall back to defaults, and the replay DAG's Params refuse topic
names Kafka would not take (no services)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from kafkapipeline.dead_letters.contract import (
    DEFAULT_MAX_MESSAGE_BYTES,
    HEADER_ORIGINAL_SIZE,
    HEADER_REPLAY_COUNT,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_TRUNCATED,
    DeadLetter,
    dead_letter_size,
    fit_dead_letter,
    replay_count_of,
)
from kafkapipeline.kafka.transaction import max_message_bytes

REPO_ROOT = Path(__file__).resolve().parents[3]
LETTER = DeadLetter.for_failure("value is not JSON", "tweets", 2, 41)


def test_a_copy_that_fits_is_left_exactly_as_it_is():
    key, value, headers = b"k", b"x" * 900_000, LETTER.headers()

    fitted = fit_dead_letter(key, value, headers, DEFAULT_MAX_MESSAGE_BYTES)

    assert fitted[0] is key and fitted[1] is value and fitted[2] is headers


def test_a_value_too_large_with_its_headers_is_cut_and_says_so():
    value = b"x" * 999_900

    key, cut, headers = fit_dead_letter(b"k", value, LETTER.headers(), DEFAULT_MAX_MESSAGE_BYTES)

    named = dict(headers)
    assert named[HEADER_TRUNCATED] == b"value"
    assert named[HEADER_ORIGINAL_SIZE] == b"999900"
    assert value.startswith(cut) and 990_000 < len(cut) < len(value)
    assert dead_letter_size(key, cut, headers) <= DEFAULT_MAX_MESSAGE_BYTES
    assert DeadLetter.from_headers(headers) == LETTER  # the dead-letter headers are all kept


def test_a_huge_key_and_huge_own_headers_are_cut_too():
    own = [("trace", b"t" * 300_000)]

    key, value, headers = fit_dead_letter(b"k" * 900_000, b"v" * 900_000, LETTER.headers() + own, 100_000)

    assert dead_letter_size(key, value, headers) <= 100_000
    assert dict(headers)[HEADER_TRUNCATED] == b"value,headers,key"
    assert "trace" not in dict(headers) and 0 < len(key) < 900_000
    assert DeadLetter.from_headers(headers).source_offset == 41


def test_cutting_again_keeps_the_first_original_size():
    _, once, headers = fit_dead_letter(None, b"x" * 500_000, LETTER.headers(), 400_000)
    _, twice, headers = fit_dead_letter(None, once, headers, 100_000)

    assert dict(headers)[HEADER_ORIGINAL_SIZE] == b"500000" and len(twice) < 100_000
    assert [name for name, _ in headers].count(HEADER_TRUNCATED) == 1


@pytest.mark.parametrize(
    "raw", [b"lots", b"\xff\xfe", b"", None, b"9" * 50, b"1e3", b"-4", "\U0001f600".encode()]
)
def test_a_garbage_replay_count_is_no_replay(raw):
    assert replay_count_of([("trace", b"x"), (HEADER_REPLAY_COUNT, raw)]) == 0


def test_a_numeric_replay_count_is_read():
    assert replay_count_of([(HEADER_REPLAY_COUNT, b" 2 ")]) == 2
    assert replay_count_of(None) == replay_count_of([]) == 0


def test_garbage_numbers_in_a_dead_letter_fall_back_to_defaults():
    headers = [
        (name, b"\xff\x00garbage" if name in (HEADER_SOURCE_PARTITION, HEADER_SOURCE_OFFSET) else value)
        for name, value in LETTER.headers()
    ] + [(HEADER_REPLAY_COUNT, b"lots")]

    letter = DeadLetter.from_headers(headers)

    assert (letter.source_partition, letter.source_offset, letter.replay_count) == (-1, -1, 0)
    assert letter.source_topic == "tweets"


def test_headers_without_a_reason_are_not_a_dead_letter():
    with pytest.raises(ValueError, match="not a dead letter of this pipeline"):
        DeadLetter.from_headers([("dlq.source.topic", b"tweets"), ("dlq.error", None)][:1])


def test_a_reason_with_a_lone_surrogate_is_escaped_not_raised():
    letter = DeadLetter.for_failure("text: '\ud800' cannot be encoded", "tw\udcffeets", 0, 1)

    headers = dict(letter.headers())

    assert headers["dlq.error"] == b"text: '\\ud800' cannot be encoded"
    assert headers["dlq.source.topic"] == b"tw\\udcffeets"


@pytest.mark.parametrize(
    ("config", "expected"),
    [({}, 1_000_000), ({"message.max.bytes": 300_000}, 300_000), ({"message.max.bytes": "x"}, 1_000_000)],
)
def test_the_dead_letter_limit_follows_the_producer_setting(config, expected):
    assert max_message_bytes(config) == expected


@pytest.fixture(scope="module")
def replay_params():
    spec = importlib.util.spec_from_file_location("replay_dag", REPO_ROOT / "dags" / "replay_dead_letters.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.replay_dead_letters().params  # the @dag function builds the DAG


@pytest.mark.parametrize("topic", ["tweets", "weather_2026", "a.b-c_d", "x" * 245])
def test_the_replay_dag_accepts_kafka_topic_names(replay_params, topic):
    assert replay_params.get_param("topic").resolve(topic) == topic


@pytest.mark.parametrize("topic", ["", ".", "..", "tweets.dlq", "bad topic", "a/b", "x" * 246, "tw\u00e9ets"])
def test_the_replay_dag_refuses_other_topic_names(replay_params, topic):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        replay_params.get_param("topic").resolve(topic)


@pytest.mark.parametrize(
    ("name", "value"), [("max_messages", 0), ("max_messages", 1_000_001), ("max_replays", 0)]
)
def test_the_replay_dag_bounds_its_numbers(replay_params, name, value):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        replay_params.get_param(name).resolve(value)
