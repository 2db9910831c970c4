"""The named Kafka retry policy for a message refused as too large: cut harder, produce again, bounded."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from kafkapipeline.kafka_retry import message_too_large


def _produce(*outcomes):
    left = list(outcomes)
    calls = []

    def produce():
        calls.append(1)
        outcome = left.pop(0)
        if outcome is not None:
            raise outcome

    return produce, calls


def too_large() -> KafkaException:
    return KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))


def test_each_refusal_cuts_once_then_the_message_is_produced_again():
    cuts = []
    produce, calls = _produce(too_large(), too_large(), None)
    message_too_large(lambda: True, lambda: cuts.append(1), attempts=5)(produce)
    assert (len(calls), len(cuts)) == (3, 2)


def test_a_message_that_cannot_shrink_more_is_refused_at_once():
    cuts = []
    produce, calls = _produce(too_large(), None)
    with pytest.raises(KafkaException):
        message_too_large(lambda: False, lambda: cuts.append(1), attempts=5)(produce)
    assert (len(calls), cuts) == (1, [])


def test_other_errors_and_the_attempt_bound_are_not_retried_past():
    produce, calls = _produce(KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT)), None)
    with pytest.raises(KafkaException):
        message_too_large(lambda: True, lambda: None, attempts=5)(produce)
    assert len(calls) == 1
    produce, calls = _produce(too_large(), too_large(), None)
    with pytest.raises(KafkaException):
        message_too_large(lambda: True, lambda: None, attempts=2)(produce)
    assert len(calls) == 2
