"""GET JSON from a weather API with a timeout and retries on the failures worth retrying
(the sources' one retry policy, :mod:`kafkapipeline.sources.http_retry`).

Retried: timeouts, connection errors, 429 and 5xx answers, and 2xx bodies that are not
JSON. Everything else is returned to the caller, which knows what a 401 or a 404 means
for its API. Error messages never contain the request URL: OpenWeatherMap takes its API
key as a query parameter, and requests puts the full URL into its exception texts, so
those exceptions are summarised by type and not chained.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from kafkapipeline.sources.http_retry import RetriableFailure, http_retry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JsonResponse:
    status: int
    payload: Any  # parsed JSON; for a non-2xx answer whose body is not JSON, the text (truncated)

    @property
    def message(self) -> str:
        """The API's own error message, if the body has one."""
        if isinstance(self.payload, dict):
            return str(self.payload.get("message") or self.payload.get("reason") or self.payload)
        return str(self.payload)[:300]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up on a request.

    :param timeout: seconds per HTTP request (connect and read)
    :param max_attempts: tries in total
    :param backoff_seconds: wait after the first failure, doubled after each further one
    """

    timeout: float = 10.0
    max_attempts: int = 3
    backoff_seconds: float = 2.0

    def __post_init__(self) -> None:
        if self.timeout <= 0 or self.max_attempts < 1 or self.backoff_seconds < 0:
            raise ValueError(
                "timeout must be positive, max_attempts at least 1, backoff_seconds not negative"
            )


def get_json(
    session: requests.Session,
    url: str,
    params: dict[str, Any],
    *,
    source: str,
    label: str,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
) -> JsonResponse:
    """GET ``url`` and parse its JSON under :func:`~kafkapipeline.sources.http_retry.http_retry`;
    :class:`SourceUnavailable` once the retries are used up; ``source`` names the source in its metrics."""

    def attempt() -> JsonResponse:
        try:
            response = session.get(url, params=params, timeout=policy.timeout)
        except (requests.Timeout, requests.ConnectionError) as err:
            reason = type(err).__name__  # its text holds the URL: not kept, not chained
        else:
            with response:
                if response.status_code == 429 or response.status_code >= 500:
                    reason = f"HTTP {response.status_code}"
                elif 200 <= response.status_code < 300:
                    try:
                        return JsonResponse(response.status_code, response.json())
                    except requests.JSONDecodeError:
                        reason = f"HTTP {response.status_code} with a body that is not JSON"
                else:
                    try:
                        payload: Any = response.json()
                    except requests.JSONDecodeError:
                        payload = response.text[:300]
                    return JsonResponse(response.status_code, payload)
        raise RetriableFailure(reason)  # outside the except: no request exception in its context

    answer: JsonResponse = http_retry(policy, label, log, source=source, sleep=sleep)(attempt)
    return answer
