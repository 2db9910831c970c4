"""Read a whole test topic back from the real Kafka (helper for the ingest tests)."""

from __future__ import annotations

import time

from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

from tests.conftest import unique_name


def read_topic(kafka_hook, topic: str, timeout: float = 60.0) -> list[tuple[bytes, bytes]]:
    """Every (key, value) in ``topic``, from the beginning of each partition to its end."""
    metadata = kafka_hook.admin().list_topics(topic, timeout=10)
    partitions = list(metadata.topics[topic].partitions)
    consumer = kafka_hook.consumer(unique_name("reader"))
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        remaining = set(partitions)
        messages: list[tuple[bytes, bytes]] = []
        deadline = time.monotonic() + timeout
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"partitions {sorted(remaining)} of {topic} never reached their end")
            message = consumer.poll(1.0)
            if message is None:
                continue
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    remaining.discard(message.partition())
                    continue
                raise RuntimeError(f"reading {topic}: {message.error()}")
            messages.append((message.key(), message.value()))
        return messages
    finally:
        consumer.close()
