"""A consumed Kafka message's position and headers, with what librdkafka guarantees checked once.

confluent_kafka types them as optional, but a message delivered without an error always has them; these
helpers give callers exact types, and a message that breaks the rule fails loudly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from kafkapipeline.dead_letters.contract import Headers

if TYPE_CHECKING:
    from confluent_kafka import Message


class MessagePosition(NamedTuple):
    topic: str
    partition: int
    offset: int


def position(message: Message) -> MessagePosition:
    """Where ``message`` was read from.

    :raises ValueError: Kafka delivered it without a topic, partition or offset (an error event)
    """
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError(
            f"Kafka delivered a message without its position (topic {topic!r}, partition {partition}, "
            f"offset {offset}, error {message.error()})"
        )
    return MessagePosition(topic, partition, offset)


def received_headers(message: Message) -> Headers:
    """A consumed message's headers as (name, bytes or None) pairs; none gives an empty list."""
    raw = message.headers()
    if not raw:
        return []
    pairs = raw.items() if isinstance(raw, dict) else raw  # a dict only on a message built locally
    return [(name, value.encode("utf-8") if isinstance(value, str) else value) for name, value in pairs]
