"""The retry policy of the source APIs' HTTP requests (tenacity), one for every source.

A request's attempt says what went wrong by raising one of two exceptions:

* :class:`RetriableFailure`: a failure worth another try (a timeout, a connection error, a 5xx,
  a 2xx body that is not JSON; a 429 where the API announces no reset). The n-th one waits
  ``backoff_seconds * 2 ** (n - 1)``; the ``max_attempts``-th gives up with
  :class:`~kafkapipeline.sources.base.SourceUnavailable` "failed N times in a row (last: ...)".
* :class:`RateLimited`: a 429 whose reset the API announced (a reset time, or ``Retry-After``):
  the announced wait is slept, at most ``max_rate_limit_retries`` times and only when it is not
  longer than ``max_rate_limit_wait``; beyond either bound, ``SourceUnavailable``. Rate-limit
  waits are not failures: they do not use up ``max_attempts``.

Anything else an attempt raises (a 401, a rejected request) is not retried. The ``sleep`` is
injectable (tests record the waits instead of sleeping). The give-up error is chained to the
failure's ``cause`` only when the caller gives one: request exceptions may hold a URL with an
API key in it.

Each failed attempt counts in ``kafkapipeline_source_http_errors_total{source, reason}`` (the reason's
kind: ``timeout``, ``connection``, ``http_503``, ``not_json``...), each rate-limit wait in
``kafkapipeline_source_rate_limit_waits_total`` and its seconds (docs/metrics.md).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tenacity import RetryCallState, Retrying, retry_if_exception_type

from kafkapipeline.metrics.names import (
    SOURCE_HTTP_ERRORS,
    SOURCE_RATE_LIMIT_WAIT_SECONDS,
    SOURCE_RATE_LIMIT_WAITS,
)
from kafkapipeline.metrics.statsd import emitting
from kafkapipeline.sources.base import SourceUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable

    from kafkapipeline.sources.http_client import RetryPolicy


class RetriableFailure(Exception):
    """One failed attempt worth trying again; ``reason`` says what failed (never a URL)."""

    def __init__(self, reason: str, cause: BaseException | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause


class RateLimited(Exception):
    """A 429 with an announced reset: try the same request again after ``wait`` seconds."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"rate limited for {wait:.0f} s")
        self.wait = wait


@dataclass(frozen=True)
class RateLimits:
    """How long a run may wait for an announced rate-limit reset, and how many times."""

    max_wait: float
    max_retries: int


_HTTP_STATUS = re.compile(r"HTTP (\d{3})$")
_NOT_WORD = re.compile(r"\W+")


def error_kind(reason: str) -> str:
    """A failure's reason as a bounded label: ``http_503``, ``not_json``, ``timeout``, ``connection``..."""
    status = _HTTP_STATUS.match(reason)
    if status:
        return f"http_{status.group(1)}"
    if "not JSON" in reason or "JSONDecodeError" in reason:
        return "not_json"
    if "Timeout" in reason:
        return "timeout"
    if "ConnectionError" in reason:
        return "connection"
    return _NOT_WORD.sub("_", reason.lower()).strip("_")[:40] or "unknown"


def http_retry(
    policy: RetryPolicy,
    label: str,
    log: logging.Logger,
    *,
    source: str,
    sleep: Callable[[float], None],
    failing: str = "request",
    giving_up: str = "",
    rate_limits: RateLimits | None = None,
) -> Retrying:
    """The policy for one request: ``Retrying(...)(attempt)`` returns its answer or raises.

    :param source: the source's name (``openweathermap``, ``x_api``...), the ``source`` label of its metrics
    :param failing: what failed, in the retry warning (``"<label>: <failing> failed (...); retry
        n in s"``)
    :param giving_up: who failed, in the give-up error (``"<label>: <giving_up> failed N times
        in a row"``)
    :param rate_limits: bounds of the waits for a :class:`RateLimited`; None: a source that
        never raises it
    """
    failures = rate_limited = 0

    def count(state: RetryCallState) -> None:
        nonlocal failures, rate_limited
        error = _error(state)
        if isinstance(error, RateLimited):
            rate_limited += 1
        else:
            failures += 1
            if isinstance(error, RetriableFailure):
                with emitting() as out:
                    out.count(SOURCE_HTTP_ERRORS, source=source, reason=error_kind(error.reason))

    def wait(state: RetryCallState) -> float:
        error = _error(state)
        if isinstance(error, RateLimited):
            return error.wait
        return policy.backoff_seconds * 2 ** (failures - 1)

    def stop(state: RetryCallState) -> bool:
        error = _error(state)
        if isinstance(error, RateLimited):
            limits = rate_limits or RateLimits(0.0, 0)
            return rate_limited > limits.max_retries or error.wait > limits.max_wait
        return failures >= policy.max_attempts

    def warn(state: RetryCallState) -> None:
        error = _error(state)
        seconds = state.upcoming_sleep
        if isinstance(error, RateLimited):
            log.warning("%s: rate limited (429); waiting %.0f s for the announced reset", label, seconds)
            with emitting() as out:
                out.count(SOURCE_RATE_LIMIT_WAITS, source=source)
                out.count(SOURCE_RATE_LIMIT_WAIT_SECONDS, seconds or 0.0, source=source)
        else:
            log.warning("%s: %s failed (%s); retry %d in %.1f s", label, failing, error, failures, seconds)

    def give_up(state: RetryCallState) -> None:
        error = _error(state)
        if isinstance(error, RateLimited):
            limits = rate_limits or RateLimits(0.0, 0)
            if rate_limited > limits.max_retries:
                raise SourceUnavailable(
                    f"{label}: still rate limited after {limits.max_retries} waits for the reset; "
                    "the task retry fetches this page again"
                )
            raise SourceUnavailable(
                f"{label}: rate limited; the limit resets in {error.wait:.0f} s, more than the "
                f"{limits.max_wait:.0f} s this run may wait. Pages before this one were produced; "
                "the task retry fetches this page again."
            )
        assert isinstance(error, RetriableFailure)
        who = f"{giving_up} " if giving_up else ""
        raise SourceUnavailable(
            f"{label}: {who}failed {failures} times in a row (last: {error.reason}); giving up"
        ) from error.cause

    return Retrying(
        retry=retry_if_exception_type((RetriableFailure, RateLimited)),
        after=count,
        wait=wait,
        stop=stop,
        before_sleep=warn,
        retry_error_callback=give_up,
        sleep=sleep,
    )


def _error(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None


__all__ = ["RateLimited", "RateLimits", "RetriableFailure", "error_kind", "http_retry"]
