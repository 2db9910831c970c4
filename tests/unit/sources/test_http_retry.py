"""The sources' one HTTP retry policy: backoff for failures, announced waits for rate limits."""

from __future__ import annotations

import logging

import pytest

from kafkapipeline.sources.base import SourceUnavailable
from kafkapipeline.sources.http_client import RetryPolicy
from kafkapipeline.sources.http_retry import RateLimited, RateLimits, RetriableFailure, http_retry

log = logging.getLogger("test_http_retry")
POLICY = RetryPolicy(timeout=5, max_attempts=3, backoff_seconds=1.5)


def scripted(*outcomes):
    """An attempt that raises (or returns) the next outcome each time it is called."""
    left = list(outcomes)

    def attempt():
        outcome = left.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return attempt


def test_rate_limit_waits_do_not_use_up_the_attempts(caplog):
    slept: list[float] = []
    attempt = scripted(
        RetriableFailure("HTTP 503"),
        RateLimited(42.0),
        RetriableFailure("ReadTimeout"),
        RateLimited(7.0),
        "page",
    )
    retrying = http_retry(
        POLICY, "page 1", log, source="test", sleep=slept.append, rate_limits=RateLimits(60.0, 2)
    )
    with caplog.at_level(logging.WARNING):
        assert retrying(attempt) == "page"
    assert slept == [1.5, 42.0, 3.0, 7.0]
    assert "page 1: request failed (ReadTimeout); retry 2 in 3.0 s" in caplog.text
    assert "page 1: rate limited (429); waiting 42 s for the announced reset" in caplog.text


def test_the_last_failure_gives_up_unchained_unless_a_cause_is_given():
    slept: list[float] = []
    attempts = [RetriableFailure("HTTP 502")] * 3
    with pytest.raises(SourceUnavailable, match=r"OWM: failed 3 times in a row \(last: HTTP 502\)") as raised:
        http_retry(POLICY, "OWM", log, source="test", sleep=slept.append)(scripted(*attempts))
    assert slept == [1.5, 3.0] and raised.value.__cause__ is None

    cause = TimeoutError("the URL would be here")
    with pytest.raises(SourceUnavailable, match="the X API failed 3 times") as raised:
        http_retry(POLICY, "p", log, source="test", sleep=slept.append, giving_up="the X API")(
            scripted(*[RetriableFailure("ReadTimeout", cause)] * 3)
        )
    assert raised.value.__cause__ is cause


def test_rate_limits_beyond_their_bounds_give_up():
    slept: list[float] = []
    limits = RateLimits(max_wait=60.0, max_retries=1)
    with pytest.raises(SourceUnavailable, match="resets in 61 s, more than the 60 s"):
        http_retry(POLICY, "p", log, source="test", sleep=slept.append, rate_limits=limits)(
            scripted(RateLimited(61.0))
        )
    with pytest.raises(SourceUnavailable, match="still rate limited after 1 waits"):
        http_retry(POLICY, "p", log, source="test", sleep=slept.append, rate_limits=limits)(
            scripted(RateLimited(5.0), RateLimited(5.0))
        )
    assert slept == [5.0]


def test_other_errors_are_not_retried():
    slept: list[float] = []
    with pytest.raises(ValueError, match="401"):
        http_retry(POLICY, "p", log, source="test", sleep=slept.append)(scripted(ValueError("401"), "never"))
    assert slept == []
