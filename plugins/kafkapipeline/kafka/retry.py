"""The retry policies of the pipeline's Kafka calls, one per kind of call (tenacity).

:func:`kafka_retriable` (retriable errors, until a timeout), :func:`queue_full` (serving deliveries to make
room), :func:`message_too_large` (cutting harder) and :func:`until_known` (metadata not yet propagated).
A hand-written loop around a Kafka call belongs here instead, as a named policy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    stop_after_delay,
    wait_fixed,
    wait_none,
)
from tenacity.stop import stop_base

#: Pause between two tries of a retriable Kafka call.
RETRY_WAIT_SECONDS = 0.5
#: How long ``produce()`` polls between two tries when the local queue is full.
QUEUE_FULL_POLL_SECONDS = 0.5


def kafka_error_of(err: BaseException) -> KafkaError | None:
    """The :class:`KafkaError` a :class:`KafkaException` carries, if any."""
    if isinstance(err, KafkaException) and err.args and isinstance(err.args[0], KafkaError):
        return err.args[0]
    return None


def is_retriable(err: BaseException) -> bool:
    """True for a :class:`KafkaException` whose error Kafka says is worth trying again."""
    error = kafka_error_of(err)
    return error is not None and bool(error.retriable())


def kafka_retriable(timeout: float, what: str, log: logging.Logger, attempts: int | None = None) -> Retrying:
    """Retry ``what`` on retriable Kafka errors for ``timeout`` seconds (and ``attempts`` tries, if given)."""

    def warn(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        log.warning("%s failed (%s), retrying", what, error if error is None else _text(error))

    stop: stop_base = stop_after_delay(timeout)
    if attempts is not None:
        stop = stop | stop_after_attempt(attempts)
    return Retrying(
        retry=retry_if_exception(is_retriable),
        stop=stop,
        wait=wait_fixed(RETRY_WAIT_SECONDS),
        before_sleep=warn,
        reraise=True,
    )


def queue_full(producer: Producer, wait: float) -> Retrying:
    """Retry a ``produce()`` refused for a full local queue, serving deliveries, for ``wait`` seconds."""

    def serve_deliveries(seconds: float) -> None:
        producer.poll(seconds)

    return Retrying(
        retry=retry_if_exception_type(BufferError),
        stop=stop_after_delay(wait),
        wait=wait_fixed(QUEUE_FULL_POLL_SECONDS),
        sleep=serve_deliveries,
        reraise=True,
    )


def is_too_large(err: BaseException) -> bool:
    """True for a :class:`KafkaException` saying the message is larger than a limit allows."""
    error = kafka_error_of(err)
    return error is not None and error.code() == KafkaError.MSG_SIZE_TOO_LARGE


def message_too_large(can_cut: Callable[[], bool], cut: Callable[[], None], attempts: int) -> Retrying:
    """Produce again a message refused as too large, once ``cut()``, while ``can_cut()``."""
    return Retrying(
        retry=retry_if_exception(lambda err: is_too_large(err) and can_cut()),
        stop=stop_after_attempt(attempts),
        wait=wait_none(),
        before_sleep=lambda _state: cut(),
        reraise=True,
    )


def until_known(timeout: float, what: str) -> Retrying:
    """Repeat a read returning ``None`` or an object with an ``error`` until it has none."""

    def give_up(state: RetryCallState) -> Any:
        found = state.outcome.result() if state.outcome is not None else None
        reason = "not listed" if found is None else found.error
        raise RuntimeError(f"{what} is still unknown to the broker after {timeout:.0f}s ({reason})")

    return Retrying(
        retry=retry_if_result(lambda found: found is None or found.error is not None),
        stop=stop_after_delay(timeout),
        wait=wait_fixed(RETRY_WAIT_SECONDS),
        retry_error_callback=give_up,
    )


def _text(err: BaseException) -> Any:
    error = kafka_error_of(err)
    return error.str() if error is not None else err
