"""From a Kafka value to a Cassandra row: decoding, validation, row layout, summaries (no services)."""

from __future__ import annotations

import json
import re
import struct
from datetime import UTC, date, datetime

import pytest
from cassandra import InvalidRequest, OperationTimedOut, Unavailable, WriteTimeout
from cassandra.cluster import NoHostAvailable

from kafkapipeline import settings
from kafkapipeline.cassandra.outcome import (
    IdempotentRetryPolicy,
    RejectedRow,
    WriteOutcome,
    is_row_specific,
    rejection_reason,
)
from kafkapipeline.cassandra.writer import unset_nulls
from kafkapipeline.drain.options import DrainOptions
from kafkapipeline.drain.summary import DrainSummary, batch_id_for
from kafkapipeline.drain.task import drain_task, drain_topic
from kafkapipeline.kafka.snapshot import PartitionProgress
from kafkapipeline.sentiment.scorers import default_scorer
from kafkapipeline.streams.base import InvalidRecord
from kafkapipeline.streams.registry import by_name
from kafkapipeline.streams.tweets import TWEETS, TWEETS_TABLE, TweetRecord, tweet_row
from kafkapipeline.streams.weather import WEATHER as WEATHER_STREAM
from kafkapipeline.streams.weather import WEATHER_TABLE, WeatherRecord, weather_row

TWEET = TweetRecord(
    tweet_id="1578516068309794817",
    text="What a lovely sunny afternoon in Vancouver!",
    created_at=datetime(2024, 5, 1, 23, 59, 58, 123000, tzinfo=UTC),
    city="Vancouver",
    lang="en",
    author_id="42",
    retweet_count=3,
    like_count=10,
    source="x_api",
)
WEATHER = WeatherRecord(
    city="Vancouver",
    observed_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
    description="broken clouds",
    temperature_c=12.5,
    feels_like_c=11.0,
    pressure_hpa=1013,
    humidity_pct=80,
    provider="openweathermap",
)
INGESTED_AT = datetime(2024, 5, 2, tzinfo=UTC)


def table_columns(cql_file: str) -> list[str]:
    """Column names of the CREATE TABLE in a migration file, plus those later migrations ADD."""
    text = (settings.cql_dir() / cql_file).read_text()
    table = re.search(r"CREATE TABLE IF NOT EXISTS \$\{keyspace\}\.([a-z_]+)", text).group(1)
    body = text[text.index("(") + 1 : text.index("PRIMARY KEY")]
    names = [m.group(1) for m in re.finditer(r"^\s*([a-z_]+)\s+[a-z<>, ]+,\s*$", body, re.MULTILINE)]
    added = re.compile(rf"ALTER TABLE \$\{{keyspace\}}\.{table} ADD IF NOT EXISTS ([a-z_]+)")
    for later in sorted(settings.cql_dir().glob("*.cql")):
        if later.name > cql_file:
            names += added.findall(later.read_text())
    return names


def test_tweet_columns_match_the_migration():
    from kafkapipeline.csvio.export import (
        TWEETS_WITH_SOURCE_LABEL,  # the drain's columns + source_label (0008)
    )

    assert sorted(TWEETS_WITH_SOURCE_LABEL.columns) == sorted(table_columns("0004_tweets.cql"))
    assert TWEETS_TABLE.drain_spec.columns[: TWEETS_TABLE.drain_spec.partition_key_width] == ("city", "day")


def test_weather_columns_match_the_migration():
    assert sorted(WEATHER_TABLE.drain_spec.columns) == sorted(table_columns("0003_weather_reports.cql"))
    assert WEATHER_TABLE.drain_spec.columns[: WEATHER_TABLE.drain_spec.partition_key_width] == ("city", "day")


def test_insert_statement_is_a_prepared_upsert():
    cql = TWEETS_TABLE.drain_spec.insert_cql("ks")
    assert cql.startswith("INSERT INTO ks.tweets (city, day, created_at, tweet_id,")
    assert cql.count("?") == len(TWEETS_TABLE.drain_spec.columns)
    assert "IF NOT EXISTS" not in cql  # a plain INSERT is an upsert: replays rewrite the same row


def test_tweet_row_has_sentiment_and_natural_key():
    row = dict(zip(TWEETS_TABLE.drain_spec.columns, tweet_row(TWEET, INGESTED_AT), strict=True))
    assert row["city"] == "Vancouver"
    assert row["day"] == date(2024, 5, 1)
    assert row["created_at"] == TWEET.created_at
    assert row["tweet_id"] == "1578516068309794817"
    model = default_scorer()
    assert (row["sentiment_score"], row["sentiment_label"]) == tuple(model.score_batch([TWEET.text])[0])
    assert (row["sentiment_model"], row["sentiment_model_version"]) == (model.name, model.version)
    assert row["sentiment_label"] == "Positive"
    assert row["ingested_at"] == INGESTED_AT
    assert row["reply_count"] is None


def test_a_batch_of_tweets_gives_the_rows_of_each_tweet_alone():
    texts = ["I love this city", "Another grey, gloomy day. Miss the sun", "Road closure on Main St tonight"]
    records = [TweetRecord(str(n), text, TWEET.created_at, "Vancouver") for n, text in enumerate(texts)]
    assert TWEETS.rows(records, INGESTED_AT) == [tweet_row(r, INGESTED_AT) for r in records]
    assert TWEETS.rows([], INGESTED_AT) == []


def test_same_message_gives_the_same_row_apart_from_ingested_at():
    first = tweet_row(TweetRecord.from_json(TWEET.to_json()), INGESTED_AT)
    again = tweet_row(TweetRecord.from_json(TWEET.to_json()), datetime(2030, 1, 1, tzinfo=UTC))
    assert first[:-1] == again[:-1]


def test_weather_row_is_written_as_it_is():
    row = dict(zip(WEATHER_TABLE.drain_spec.columns, weather_row(WEATHER, INGESTED_AT), strict=True))
    assert row["temperature_c"] == 12.5
    assert row["day"] == date(2024, 5, 1)
    assert row["description"] == "broken clouds"
    assert row["provider"] == "openweathermap"
    assert row["sunrise"] is None


def test_decode_accepts_both_streams():
    assert TWEETS.decode(TWEET.to_json()) == TWEET
    assert WEATHER_STREAM.decode(WEATHER.to_json()) == WEATHER


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "not JSON"),
        (None, "null message"),
        (b"[1, 2]", "expected an object"),
        (json.dumps({**TWEET.to_dict(), "schema_version": 99}).encode(), "schema_version 99"),
        (json.dumps({k: v for k, v in TWEET.to_dict().items() if k != "city"}).encode(), "city"),
        (json.dumps({**TWEET.to_dict(), "like_count": "many"}).encode(), "like_count"),
        (json.dumps({**TWEET.to_dict(), "created_at": "yesterday"}).encode(), "created_at"),
        (WEATHER.to_json(), "kind 'weather' does not belong on this topic"),
    ],
)
def test_decode_rejects_bad_values_with_a_reason(value, reason):
    with pytest.raises(InvalidRecord, match=re.escape(reason)):
        TWEETS.decode(value)


def test_unknown_stream_is_refused():
    with pytest.raises(ValueError, match="stream must be one of tweets, weather"):
        by_name("tweet")


def test_topic_is_resolved_from_the_environment_at_call_time(monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_TWEETS_TOPIC", "tweets_override")
    monkeypatch.setenv("KAFKAPIPELINE_WEATHER_TOPIC", "weather_override")
    assert by_name("tweets").topic() == "tweets_override"
    assert by_name("weather").topic() == "weather_override"


def test_batch_id_is_stable_and_names_the_ranges():
    ranges = [
        PartitionProgress(
            partition=0, start_offset=10, end_offset=20, first_offset=10, last_offset=19, messages=10
        ),
        PartitionProgress(partition=1, start_offset=5, end_offset=5),
    ]
    assert batch_id_for("tweets", ranges) == "p0:10-19"
    assert batch_id_for("tweets", ranges) == batch_id_for("tweets", list(ranges))
    many = [
        PartitionProgress(
            partition=p, start_offset=0, end_offset=99, first_offset=0, last_offset=99, messages=100
        )
        for p in range(40)
    ]
    long_id = batch_id_for("tweets", many)
    assert len(long_id) == 32 and long_id == batch_id_for("tweets", many)


def test_commit_offset_is_the_next_offset_to_read():
    assert PartitionProgress(0, 0, 10).commit_offset is None
    assert PartitionProgress(0, 0, 10, first_offset=0, last_offset=9, messages=10).commit_offset == 10


def test_summary_is_json_for_xcom_and_readable_for_logs():
    summary = DrainSummary(
        topic="tweets",
        stream="tweets",
        group_id="g",
        batch_id="p0:0-9",
        messages_read=10,
        rows_written=9,
        dead_lettered=1,
        lag_after=0,
        seconds=0.5,
        committed=True,
        partitions=[PartitionProgress(0, 0, 10, first_offset=0, last_offset=9, messages=10, done=True)],
    )
    payload = json.loads(json.dumps(summary.to_dict()))
    assert payload["messages_per_second"] == 20.0
    assert payload["partitions"][0]["last_offset"] == 9
    text = summary.describe()
    assert "10 messages read, 9 rows written, 1 dead-lettered" in text
    assert "p0 0..9 (10)" in text


def test_write_outcome_failure_text_counts_rows():
    outcome = WriteOutcome(
        rows_submitted=500, rows_written=497, rows_failed=3, first_error=RuntimeError("boom")
    )
    assert not outcome.ok
    assert outcome.describe_failure() == "3 of 500 rows: RuntimeError: boom"
    skipped = WriteOutcome(rows_submitted=500, rows_written=100, rows_failed=16, rows_not_attempted=384)
    assert "400 of 500 rows (384 not attempted after the first failure)" in skipped.describe_failure()
    assert WriteOutcome(rows_submitted=3, rows_written=3).ok


def test_rows_refused_one_by_one_complete_the_write_but_are_not_ok():
    refused = WriteOutcome(rows_submitted=5, rows_written=4, rejected=[RejectedRow("m", "too long")])
    assert refused.complete and not refused.ok and refused.unanswered == 0
    assert refused.describe_failure() == "1 of 5 rows, refused: too long"


@pytest.mark.parametrize(
    "error",
    [
        InvalidRequest(
            'Error from server: code=2200 [Invalid query] message="Key length of 70000 is longer '
            'than maximum of 65535"'
        ),
        TypeError('Received an argument of invalid type for column "like_count"'),
        UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
        struct.error("'H' format requires 0 <= number <= 65535"),
        OverflowError("int too large"),
    ],
)
def test_errors_about_a_row_are_row_specific(error):
    assert is_row_specific(error)
    assert type(error).__name__ in rejection_reason(error)


@pytest.mark.parametrize(
    "error",
    [
        InvalidRequest('Error from server: code=2200 [Invalid query] message="unconfigured table tweets"'),
        InvalidRequest("Keyspace test_x does not exist"),
        InvalidRequest('message="Undefined column name source_label"'),
        WriteTimeout("timed out", write_type=0),
        Unavailable("not enough replicas"),
        OperationTimedOut("no answer"),
        NoHostAvailable("no host", {}),
        ConnectionResetError("reset"),
        TimeoutError("slow"),
    ],
)
def test_errors_about_the_cluster_or_schema_fail_the_batch(error):
    assert not is_row_specific(error)


def test_retry_policy_retries_idempotent_writes_then_gives_up():
    policy = IdempotentRetryPolicy(max_retries=2)
    kwargs = {
        "consistency": 1,
        "write_type": "UNLOGGED_BATCH",
        "required_responses": 1,
        "received_responses": 0,
    }
    assert policy.on_write_timeout(None, retry_num=0, **kwargs)[0] == policy.RETRY
    assert policy.on_write_timeout(None, retry_num=2, **kwargs)[0] == policy.RETHROW
    assert policy.on_request_error(None, 1, RuntimeError(), 0)[0] == policy.RETRY_NEXT_HOST
    assert policy.on_unavailable(None, 1, 1, 0, 5)[0] == policy.RETHROW


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_messages": 0}, "max_messages must be an integer >= 1"),
        ({"max_messages": True}, "max_messages must be an integer >= 1"),
        ({"topic": ""}, "topic must not be empty"),
        ({"group_id": ""}, "group_id must not be empty"),
    ],
)
def test_drain_topic_refuses_bad_arguments_before_connecting(kwargs, message, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_CASSANDRA_DEFAULT", raising=False)  # it must not get that far
    args = {"topic": "t", "stream": TWEETS, "group_id": "g", "max_messages": 10} | kwargs
    with pytest.raises(ValueError, match=message):
        drain_topic(**args)


@pytest.mark.parametrize(
    "options",
    [
        {"consume_batch": 0},
        {"concurrency": 0},
        {"max_batch_rows": -1},
        {"idle_timeout": 0},
        {"kafka_timeout": -1},
    ],
)
def test_drain_options_are_validated(options):
    with pytest.raises(ValueError, match=next(iter(options))):
        DrainOptions(**options)


@pytest.mark.parametrize("max_messages", ["0", "-5", "ten", "1.5", None])
def test_drain_task_validates_rendered_max_messages(max_messages):
    with pytest.raises(ValueError, match="max_messages"):  # pydantic's ValidationError, a ValueError
        drain_task(stream="tweets", max_messages=max_messages)


def test_drain_task_refuses_an_unknown_stream_before_connecting(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_CASSANDRA_DEFAULT", raising=False)  # it must not get that far
    with pytest.raises(ValueError, match="stream must be one of tweets, weather, got 'tweet'"):
        drain_task("tweet", 10)


def test_empty_fields_are_bound_unset_so_no_tombstones_are_written():
    from cassandra.query import UNSET_VALUE

    row = tweet_row(TWEET, INGESTED_AT)
    bound = unset_nulls(row)
    for column, value, sent in zip(TWEETS_TABLE.drain_spec.columns, row, bound, strict=True):
        assert sent is (UNSET_VALUE if value is None else value), column
    complete = ("a", 1, 2.5)
    assert unset_nulls(complete) is complete


class _Message:
    """The parts of a confluent_kafka Message the drain's row step reads."""

    def __init__(self, offset: int, value: bytes) -> None:
        self._offset, self._value = offset, value

    def error(self):
        return None

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return self._value


class _DeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []

    def send(self, message, reason: str) -> None:
        self.sent.append((message.offset(), reason))


def test_a_tweet_that_breaks_the_batch_scoring_is_dead_lettered_alone(monkeypatch):
    """Scoring runs once per micro-batch; if that call fails, each row is built alone."""
    from kafkapipeline.drain import batch as drain_batch
    from kafkapipeline.sentiment import scorers

    real = scorers.default_scorer()

    def score_batch(texts):
        if any("poison" in text for text in texts):
            raise RuntimeError("the model choked")
        return real.score_batch(texts)

    monkeypatch.setattr(
        "kafkapipeline.streams.tweets.default_scorer",
        lambda: scorers.Scorer(real.name, real.version, score_batch),
    )
    texts = ["I love this city", "poison pill", "Road closure on Main St tonight", "not JSON"]
    messages = [
        _Message(
            n,
            b"{not json"
            if text == "not JSON"
            else TweetRecord(str(n), text, TWEET.created_at, "X").to_json(),
        )
        for n, text in enumerate(texts)
    ]
    summary = DrainSummary(topic="t", stream="tweets", group_id="g")
    batch = drain_batch.MicroBatch(None, TWEETS, summary, DrainOptions(), max_messages=10)
    dead_letters = _DeadLetters()

    rows, sources = batch._rows_of(messages, dead_letters)

    assert [row[3] for row in rows] == ["0", "2"]
    assert [m.offset() for m in sources] == [0, 2]
    assert [offset for offset, _ in dead_letters.sent] == [3, 1]
    assert "RuntimeError: the model choked" in dead_letters.sent[1][1]


def test_lax_counts_an_empty_text_and_bytes_that_are_not_utf8_are_dead_lettered_with_the_field(
    monkeypatch,
):
    """What used to be stored (a count of -5, an empty text) or rounded (1.5) goes to the DLQ instead."""
    from kafkapipeline.drain import batch as drain_batch

    good = TWEET.to_dict()
    values = [
        json.dumps({**good, "tweet_id": "0"}).encode(),
        json.dumps({**good, "tweet_id": "1", "like_count": 1.5}).encode(),
        json.dumps({**good, "tweet_id": "2", "like_count": -5}).encode(),
        json.dumps({**good, "tweet_id": "3", "text": ""}).encode(),
        json.dumps({**good, "tweet_id": "4", "text": "   "}).encode(),
        b'{"schema_version": 1, "text": "caf\xe9"}',
        json.dumps({**good, "tweet_id": "6", "reply_count": 0}).encode(),
    ]
    summary = DrainSummary(topic="t", stream="tweets", group_id="g")
    batch = drain_batch.MicroBatch(None, TWEETS, summary, DrainOptions(), max_messages=10)
    dead_letters = _DeadLetters()

    rows, sources = batch._rows_of([_Message(n, value) for n, value in enumerate(values)], dead_letters)

    assert [row[3] for row in rows] == ["0", "6"]
    assert [m.offset() for m in sources] == [0, 6]
    assert dead_letters.sent == [
        (1, "like_count: expected an integer or null, got 1.5"),
        (2, "like_count: -5 is outside the range of a count [0, 2147483647] (never negative)"),
        (3, "text: required text is empty"),
        (4, "text: expected text with a character other than whitespace, got '   '"),
        (5, f"value is not valid UTF-8 at byte {values[5].index(0xE9)} (0xe9: invalid continuation byte)"),
    ]


@pytest.mark.parametrize(
    ("partitions", "groups", "expected"),
    [
        ([0, 1, 2, 3, 4], 3, [[0, 3], [1, 4], [2]]),
        ([2, 0, 1], 1, [[0, 1, 2]]),
        ([0, 1], 5, [[0], [1]]),  # never more groups than partitions, never an empty one
        ([], 3, []),
    ],
)
def test_partition_groups_are_disjoint_round_robin_and_stable(partitions, groups, expected):
    from kafkapipeline.drain.task import partition_groups

    assert partition_groups(partitions, groups) == expected
    assert partition_groups(list(reversed(partitions)), groups) == expected


@pytest.mark.parametrize("groups", [0, -1, True, 1.5])
def test_partition_groups_refuse_a_bad_count(groups):
    from kafkapipeline.drain.task import partition_groups

    with pytest.raises(ValueError, match="partition_groups"):
        partition_groups([0, 1], groups)
