"""A consumed message's position and headers, as the drain and the replay read them (no services).

Real ``confluent_kafka.Message`` objects, built the way librdkafka fills them (or leaves them unset).
"""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, Message

from kafkapipeline.dead_letter_replay import ReplayError, _placed
from kafkapipeline.drain import RECORD_KINDS, DrainOptions, DrainSummary, PartitionRange
from kafkapipeline.drain_batch import MicroBatch
from kafkapipeline.drain_transaction import DrainError
from kafkapipeline.kafka_messages import MessagePosition, position, received_headers


def test_position_of_a_delivered_message():
    message = Message(topic="tweets", partition=2, offset=41, value=b"{}")
    assert position(message) == MessagePosition("tweets", 2, 41)


@pytest.mark.parametrize(
    "fields", [{"partition": 0, "offset": 1}, {"topic": "t", "offset": 1}, {"topic": "t", "partition": 0}]
)
def test_a_message_without_its_position_is_refused(fields):
    with pytest.raises(ValueError, match="without its position"):
        position(Message(**fields))


def test_received_headers_are_name_and_bytes_pairs():
    pairs = [("dlq.error", b"bad"), ("empty", None)]
    assert received_headers(Message(headers=pairs)) == pairs
    assert received_headers(Message()) == []
    # A message built locally may carry produce()'s shapes: a dict and text values.
    assert received_headers(Message(headers={"a": "é", "b": b"x"})) == [("a", "é".encode()), ("b", b"x")]


def test_the_drain_refuses_a_message_without_an_offset():
    """Without an offset the batch cannot know what it committed past: fail it, commit nothing."""
    summary = DrainSummary(topic="t", kind="tweet", group_id="g")
    batch = MicroBatch(None, RECORD_KINDS["tweet"], summary, DrainOptions(), max_messages=10)
    batch.pending = {0: PartitionRange(partition=0, start_offset=0, end_offset=100)}
    with pytest.raises(DrainError, match="without its partition or offset; offsets not committed"):
        batch._rows_of([Message(topic="t", partition=0, value=b"{}")], None)
    assert batch.pending[0].messages == 0


def test_the_drain_refuses_an_end_of_partition_event_without_an_offset():
    """The end event says where the partition ends: without an offset it cannot close a range."""
    summary = DrainSummary(topic="t", kind="tweet", group_id="g")
    batch = MicroBatch(None, RECORD_KINDS["tweet"], summary, DrainOptions(), max_messages=10)
    batch.pending = {0: PartitionRange(partition=0, start_offset=0, end_offset=5)}
    end = Message(topic="t", partition=0, error=KafkaError(KafkaError._PARTITION_EOF))
    with pytest.raises(DrainError, match="without its partition or offset"):
        batch._rows_of([end], None)
    assert not batch.pending[0].done


def test_the_replay_refuses_a_message_without_a_partition():
    assert _placed(Message(topic="t.dlq", partition=1, offset=7), "t.dlq") == (1, 7)
    with pytest.raises(ReplayError, match="without its partition or offset; nothing committed"):
        _placed(Message(topic="t.dlq", offset=7), "t.dlq")
