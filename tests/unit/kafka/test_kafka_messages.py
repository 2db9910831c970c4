"""A consumed message's position and headers, as the snapshot reader (drain, replay, health) reads them.

Real ``confluent_kafka.Message`` objects, built the way librdkafka fills them (or leaves them unset).
"""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, Message

from kafkapipeline.kafka.messages import MessagePosition, position, received_headers
from kafkapipeline.kafka.snapshot import SnapshotReader, SnapshotReadError


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


class _Consumer:
    """What the reader calls besides consume(): pausing a finished partition."""

    def pause(self, partitions) -> None:
        pass


def reader() -> SnapshotReader:
    return SnapshotReader(_Consumer(), "t", {0: (0, 100)}, idle_timeout=1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("missing", ["topic", "partition", "offset"])
def test_the_reader_refuses_a_message_without_its_position(missing):
    """Without a position no range can advance: the drain and the replay fail and commit nothing."""
    snapshot = reader()
    placed = {"topic": "t", "partition": 0, "offset": 3}
    del placed[missing]
    with pytest.raises(SnapshotReadError, match="without its position"):
        snapshot._inside(
            [Message(topic="t", partition=0, offset=2, value=b"{}"), Message(**placed, value=b"{}")]
        )
    assert snapshot.progress[0].messages == 1


def test_the_reader_refuses_an_end_of_partition_event_without_an_offset():
    """The end event says where the partition ends: without an offset it cannot close a range."""
    snapshot = reader()
    end = Message(topic="t", partition=0, error=KafkaError(KafkaError._PARTITION_EOF))
    with pytest.raises(SnapshotReadError, match="without its position"):
        snapshot._inside([end])
    assert not snapshot.progress[0].done


def test_the_reader_hands_out_a_placed_message():
    message = Message(topic="t", partition=0, offset=7, value=b"{}")
    assert reader()._inside([message]) == [message]
