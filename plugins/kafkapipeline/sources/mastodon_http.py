"""The HTTP side of the Mastodon source: one timeline page, with Mastodon's rate limits and errors.

* ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset``: Mastodon announces its budget on
  every answer (300 requests per 5 minutes by default; the reset is an ISO-8601 time).
  When the budget is spent, the next request waits for the reset first, so the run does
  not provoke a 429.
* 429: the wait until ``X-RateLimit-Reset`` (or ``Retry-After``) is slept, bounded by
  ``max_rate_limit_wait`` and ``max_rate_limit_retries``, then the *same* page is asked
  again; beyond the bounds :class:`SourceUnavailable` (pages already yielded stay produced).
* 5xx, timeouts, connection errors, a 2xx body that is not JSON: retried with
  exponential backoff, ``max_attempts`` tries in all, then :class:`SourceUnavailable`.
  (Both retries are the sources' one policy, :mod:`kafkapipeline.sources.http_retry`.)
* 401 / 403 / 422 with an error body: the instance refuses the request (anonymous access
  switched off, or a bad token): :class:`ConfigurationError` saying which setting to add.
* Any other 4xx: :class:`SourceRequestRejected` (retrying cannot help).

The access token travels in the ``Authorization`` header, never in a URL, so neither
logs nor exception texts can carry it.

``http_client.get_json`` (the weather sources' request) is not reused: it returns neither the
``Link`` nor the rate-limit headers, and it retries a 429 on a blind backoff instead of
waiting for the announced reset.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests

from kafkapipeline.errors import ConfigurationError
from kafkapipeline.sources.base import SourceRequestRejected, SourceUnavailable
from kafkapipeline.sources.http_client import RetryPolicy
from kafkapipeline.sources.http_retry import RateLimited, RateLimits, RetriableFailure, http_retry

log = logging.getLogger(__name__)

#: The Mastodon source's name (its runs' reports, its metrics' ``source`` label).
SOURCE_NAME = "mastodon"
#: Wait used when a 429 says neither when the limit resets nor how long to wait.
RATE_LIMIT_FALLBACK_WAIT_SECONDS = 60.0
USER_AGENT = "kafkapipeline/1 (Airflow micro-batch pipeline; Mastodon timeline reader)"


@dataclass(frozen=True)
class TimelinePage:
    """One answer of a timeline endpoint."""

    payload: Any  # parsed JSON; a list of statuses when the instance behaves
    next_max_id: str | None  # ``max_id`` of the ``Link: <...>; rel="next"`` URL, if any
    has_link: bool  # whether the answer carried a ``Link`` header at all


def token_help(conn_id: str, base_url: str) -> str:
    """How to get and set an access token (appended to every access error)."""
    example = json.dumps({"conn_type": "http", "host": base_url, "password": "<access token>"})
    return (
        f"Set an access token with the read:statuses scope as the password of connection '{conn_id}': "
        f"on {base_url} open Preferences > Development > New application, tick read:statuses, "
        f"save, and copy 'Your access token'; for example "
        f"AIRFLOW_CONN_{conn_id.upper()}='{example}'"
    )


def reset_epoch(value: str | None) -> float | None:
    """``X-RateLimit-Reset`` as epoch seconds: Mastodon sends ISO 8601, some servers epoch seconds."""
    if not value:
        return None
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo else None


def _error_text(response: requests.Response) -> str | None:
    """The ``error`` of a Mastodon error body (``{"error": "..."}``), if the body is one."""
    try:
        body = response.json()
    except requests.JSONDecodeError:
        return None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    return None


class MastodonClient:
    """GETs timeline pages from one instance with the retries the module docstring describes.

    :param base_url: the instance, ``https://host``
    :param access_token: bearer token, or ``None`` to read anonymously; never logged
    :param conn_id: the connection named in configuration errors
    """

    def __init__(
        self,
        base_url: str,
        access_token: str | None,
        *,
        conn_id: str,
        timeout: float = 30.0,
        max_attempts: int = 3,
        backoff_seconds: float = 2.0,
        max_rate_limit_wait: float = 600.0,
        max_rate_limit_retries: int = 3,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
    ) -> None:
        if timeout <= 0 or max_attempts < 1 or backoff_seconds < 0:
            raise ValueError(
                "timeout must be positive, max_attempts at least 1, backoff_seconds not negative"
            )
        if max_rate_limit_wait < 0 or max_rate_limit_retries < 0:
            raise ValueError("max_rate_limit_wait and max_rate_limit_retries must not be negative")
        self.base_url = base_url.rstrip("/")
        self.authenticated = bool(access_token)
        self.conn_id = conn_id
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_rate_limit_wait = max_rate_limit_wait
        self.max_rate_limit_retries = max_rate_limit_retries
        self.policy = RetryPolicy(timeout, max_attempts, backoff_seconds)
        self.rate_limits = RateLimits(max_rate_limit_wait, max_rate_limit_retries)
        self._sleep = sleep
        self._clock = clock
        self._resume_at: float | None = None  # set when the instance said the budget is spent
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
        if access_token:
            self.session.headers["Authorization"] = f"Bearer {access_token}"

    def close(self) -> None:
        self.session.close()

    def _wait_for_budget(self, label: str) -> None:
        if self._resume_at is None:
            return
        wait = self._resume_at - self._clock()
        self._resume_at = None
        if wait <= 0:
            return
        if wait > self.max_rate_limit_wait:
            raise SourceUnavailable(
                f"{label}: the instance's rate limit is used up and resets in {wait:.0f} s, more than the "
                f"{self.max_rate_limit_wait:.0f} s this run may wait; the task retry goes on from here"
            )
        log.info("%s: rate limit budget used up; waiting %.0f s for the announced reset", label, wait)
        self._sleep(wait)

    def _note_budget(self, response: requests.Response) -> None:
        remaining = response.headers.get("X-RateLimit-Remaining", "").strip()
        if remaining.isdigit() and int(remaining) == 0:
            reset = reset_epoch(response.headers.get("X-RateLimit-Reset"))
            self._resume_at = None if reset is None else reset + 1.0

    def _rate_limit_wait(self, response: requests.Response) -> float:
        reset = reset_epoch(response.headers.get("X-RateLimit-Reset"))
        if reset is not None:
            return max(0.0, reset - self._clock() + 1.0)
        retry_after = response.headers.get("Retry-After", "").strip()
        if retry_after.isdigit():
            return float(retry_after)
        return RATE_LIMIT_FALLBACK_WAIT_SECONDS

    def _refused(self, response: requests.Response, what: str, error: str) -> ConfigurationError:
        status = response.status_code
        if self.authenticated:
            return ConfigurationError(
                f"{self.base_url} rejected the access token of connection '{self.conn_id}' for {what} "
                f"(HTTP {status}: {error}). The token must be valid and carry the read:statuses (or "
                f"read) scope. {token_help(self.conn_id, self.base_url)}"
            )
        return ConfigurationError(
            f"{self.base_url} refuses anonymous access to {what} (HTTP {status}: {error}). "
            f"{token_help(self.conn_id, self.base_url)}"
        )

    def _rejection(self, response: requests.Response, label: str, what: str) -> Exception:
        """The error for a 4xx other than 429: access refused, or a request retrying cannot fix."""
        status = response.status_code
        error = _error_text(response)
        if status in (401, 403) or (status == 422 and error):
            return self._refused(response, what, error or response.reason or "refused")
        detail = error or response.text[:200]
        hint = " (is this a Mastodon instance?)" if status == 404 else ""
        return SourceRequestRejected(
            f"{label}: {self.base_url} rejected the request (HTTP {status}: {detail}){hint}"
        )

    def get_page(self, path: str, params: dict[str, Any], *, label: str, what: str) -> TimelinePage:
        """One page of ``path``; raises when it cannot be had (see the module docstring)."""
        url = f"{self.base_url}{path}"

        def attempt() -> TimelinePage:
            self._wait_for_budget(label)
            try:
                response = self.session.get(url, params=params, timeout=self.timeout)
            except (requests.Timeout, requests.ConnectionError) as err:
                reason = type(err).__name__
            else:
                with response:
                    status = response.status_code
                    if status == 429:
                        raise RateLimited(self._rate_limit_wait(response))
                    if 200 <= status < 300:
                        self._note_budget(response)
                        try:
                            payload = response.json()
                        except requests.JSONDecodeError:
                            reason = f"HTTP {status} with a body that is not JSON"
                        else:
                            return TimelinePage(payload, _next_max_id(response), "link" in response.headers)
                    elif status >= 500:
                        reason = f"HTTP {status}"
                    else:
                        raise self._rejection(response, label, what)
            raise RetriableFailure(reason)

        retrying = http_retry(
            self.policy,
            label,
            log,
            source=SOURCE_NAME,
            sleep=self._sleep,
            giving_up=self.base_url,
            rate_limits=self.rate_limits,
        )
        page: TimelinePage = retrying(attempt)
        return page


def _next_max_id(response: requests.Response) -> str | None:
    link = response.links.get("next")
    if not link or not link.get("url"):
        return None
    values = parse_qs(urlparse(link["url"]).query).get("max_id")
    return values[0] if values else None


__all__ = ["MastodonClient", "TimelinePage", "reset_epoch", "token_help"]
