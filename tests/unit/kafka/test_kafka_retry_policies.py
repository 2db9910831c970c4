"""Named Kafka retry policies: a message refused as too large (cut harder, produce again, bounded),
and a topic a broker has not learnt of yet (read again until known, bounded)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from confluent_kafka import KafkaError, KafkaException

from kafkapipeline.kafka.retry import message_too_large, until_known


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


def test_a_topic_is_read_again_until_the_broker_knows_it():
    answers = [None, SimpleNamespace(error="UNKNOWN_TOPIC_OR_PART"), SimpleNamespace(error=None)]
    reads = []

    def read():
        reads.append(1)
        return answers.pop(0)

    assert until_known(5, "topic t")(read).error is None
    assert len(reads) == 3


def test_a_topic_never_known_fails_naming_it_and_the_last_error():
    with pytest.raises(RuntimeError, match=r"topic t is still unknown .* after 1s \(UNKNOWN_TOPIC"):
        until_known(1, "topic t")(lambda: SimpleNamespace(error="UNKNOWN_TOPIC_OR_PART"))
