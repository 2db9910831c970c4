"""Recent tweets from the X API v2 (``GET /2/tweets/search/recent``) through tweepy.

``next_token`` is followed up to ``max_pages``; each page is yielded only once fetched whole,
so a page fetched again (a 429 waited out until ``x-rate-limit-reset``, a retried 5xx or
timeout: the sources' one policy, :mod:`kafkapipeline.sources.http_retry`) is produced once.
401/403 is a configuration error naming the connection, 400 a rejected request. A tweet without
``created_at`` gets it from its snowflake id; other fields are optional; an item without a usable
``id`` or ``text`` is skipped with its reason. The client returns plain dicts because tweepy's
``Tweet`` raises a bare ``KeyError`` on an item without ``id``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import tweepy

from kafkapipeline import settings
from kafkapipeline.errors import ConfigurationError
from kafkapipeline.sources.base import (
    Interval,
    RecordSource,
    SkippedItem,
    SourcePage,
    SourceRequestRejected,
)
from kafkapipeline.sources.http_client import RetryPolicy
from kafkapipeline.sources.http_retry import RateLimited, RateLimits, RetriableFailure, http_retry
from kafkapipeline.sources.replay import snowflake_time
from kafkapipeline.streams.base import InvalidRecord
from kafkapipeline.streams.tweets import TweetRecord

log = logging.getLogger(__name__)

SOURCE_NAME = "x_api"
TWEET_FIELDS = ["created_at", "lang", "author_id", "public_metrics", "geo", "entities"]
#: Recent search only reaches back this far.
SEARCH_WINDOW = timedelta(days=7)
#: The API rejects an ``end_time`` less than this before the request.
END_TIME_MIN_AGE = timedelta(seconds=10)
#: Wait used when a 429 carries no ``x-rate-limit-reset`` header.
RATE_LIMIT_FALLBACK_WAIT_SECONDS = 60.0
MAX_QUERY_LENGTH = 512
#: Smallest snowflake id: ids below it are pre-2010 sequential ids with no time in them.
_FIRST_SNOWFLAKE = 1 << 22


class _TimeoutSession(requests.Session):
    """A session that applies a timeout to every request (tweepy sets none)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)


def _api_messages(err: tweepy.HTTPException) -> str:
    messages = [str(m) for m in (err.api_messages or []) if m]
    return "; ".join(messages) or f"HTTP {err.response.status_code}"


def parse_tweet(item: Any, city: str, source: str = SOURCE_NAME) -> TweetRecord:
    """One item of ``data`` as a :class:`TweetRecord`; :class:`InvalidRecord` says why it cannot be."""
    if not isinstance(item, dict):
        raise InvalidRecord(f"item is {type(item).__name__}, expected an object")
    raw_id = item.get("id")
    tweet_id = str(raw_id).strip() if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) else ""
    if not tweet_id.isdigit():
        raise InvalidRecord(f"id: missing or not a numeric id: {raw_id!r}")
    if not isinstance(item.get("text"), str):
        raise InvalidRecord("text: missing or not text")
    created_at: Any = item.get("created_at")
    if created_at in (None, ""):
        if int(tweet_id) < _FIRST_SNOWFLAKE:
            raise InvalidRecord("created_at: missing, and the id is too old to carry a timestamp")
        created_at = snowflake_time(int(tweet_id))
    metrics = item.get("public_metrics")
    if metrics is not None and not isinstance(metrics, dict):
        raise InvalidRecord(f"public_metrics: expected an object, got {type(metrics).__name__}")
    metrics = metrics or {}
    geo = item.get("geo")
    place_id = geo.get("place_id") if isinstance(geo, dict) else None
    entities = item.get("entities")
    tags = entities.get("hashtags") if isinstance(entities, dict) else None
    hashtags = [tag.get("tag") for tag in tags if isinstance(tag, dict)] if isinstance(tags, list) else None
    return TweetRecord.from_dict(
        {
            "tweet_id": tweet_id,
            "text": item["text"],
            "created_at": created_at,
            "city": city,
            "lang": item.get("lang"),
            "author_id": item.get("author_id"),
            "retweet_count": metrics.get("retweet_count"),
            "reply_count": metrics.get("reply_count"),
            "like_count": metrics.get("like_count"),
            "quote_count": metrics.get("quote_count"),
            "place_id": place_id,
            "source": source,
            "hashtags": hashtags or None,
        }
    )


def parse_search_page(payload: Any, city: str, label: str) -> tuple[SourcePage[TweetRecord], str | None]:
    """A search response as a page of records, plus the ``next_token`` (``None`` on the last page)."""
    page: SourcePage[TweetRecord] = SourcePage(label=label)
    if not isinstance(payload, dict):
        page.failure = f"{label}: response is {type(payload).__name__}, expected a JSON object"
        return page, None
    raw_meta = payload.get("meta")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    next_token = meta.get("next_token") if isinstance(meta.get("next_token"), str) else None
    for error in payload.get("errors") or []:
        page.warnings.append(f"{label}: API reported a partial error: {error}")
    data = payload.get("data")
    if data is None:
        if meta.get("result_count", 0) not in (0, None):
            page.failure = (
                f"{label}: meta.result_count is {meta['result_count']} but the response has no data"
            )
        return page, next_token
    if not isinstance(data, list):
        page.failure = f"{label}: data is {type(data).__name__}, expected a list"
        return page, next_token
    for item in data:
        try:
            page.records.append(parse_tweet(item, city))
        except InvalidRecord as err:
            item_id = item.get("id") if isinstance(item, dict) else None
            page.skipped.append(
                SkippedItem(reason=str(err), item_id=None if item_id is None else str(item_id))
            )
    if data and not page.records:
        page.failure = (
            f"{label}: none of the {len(data)} tweets could be read (first reason: {page.skipped[0].reason})"
        )
    return page, next_token


class XApiTweetSource(RecordSource[TweetRecord]):
    """Tweets matching ``query`` created in the interval, from X's recent search.

    :param bearer_token: app bearer token (from connection ``x_api_default``); never logged
    :param query: search query, at most 512 characters
    :param city: city the tweets are attributed to (``TweetRecord.city``)
    :param max_pages: most pages fetched per run (``next_token`` pagination)
    :param max_results: tweets per page, 10..100 (the API's limits)
    :param timeout: seconds per HTTP request
    :param max_attempts: tries per page on 5xx, timeouts and connection errors
    :param backoff_seconds: first wait between those tries, doubled each time
    :param max_rate_limit_wait: longest wait for a rate-limit reset, in seconds
    :param max_rate_limit_retries: most 429s accepted for one page
    :param conn_id: connection the token came from, named in configuration errors
    :param sleep: ``time.sleep`` (replaceable in tests)
    :param clock: ``time.time`` (replaceable in tests)
    """

    name = SOURCE_NAME

    def __init__(
        self,
        bearer_token: str,
        *,
        query: str = settings.DEFAULT_TWEET_QUERY,
        city: str = "Vancouver",
        max_pages: int = 5,
        max_results: int = 100,
        timeout: float = 30.0,
        max_attempts: int = 3,
        backoff_seconds: float = 2.0,
        max_rate_limit_wait: float = 600.0,
        max_rate_limit_retries: int = 3,
        conn_id: str = settings.X_API_CONN_ID,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not bearer_token:
            raise ConfigurationError(
                f"connection '{conn_id}' has no bearer token (password or extra bearer_token)"
            )
        if not query or not query.strip() or len(query) > MAX_QUERY_LENGTH:
            raise ValueError(f"query must be 1..{MAX_QUERY_LENGTH} characters, got {len(query or '')}")
        if not city or not city.strip():
            raise ValueError("city must not be empty")
        if max_pages < 1:
            raise ValueError(f"max_pages must be at least 1, got {max_pages}")
        if not 10 <= max_results <= 100:
            raise ValueError(f"max_results must be in 10..100 (the API's limits), got {max_results}")
        if timeout <= 0 or max_attempts < 1 or backoff_seconds < 0:
            raise ValueError(
                "timeout must be positive, max_attempts at least 1, backoff_seconds not negative"
            )
        if max_rate_limit_wait < 0 or max_rate_limit_retries < 0:
            raise ValueError("max_rate_limit_wait and max_rate_limit_retries must not be negative")
        self._bearer_token = bearer_token
        self.query = query.strip()
        self.city = city.strip()
        self.max_pages = max_pages
        self.max_results = max_results
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_rate_limit_wait = max_rate_limit_wait
        self.max_rate_limit_retries = max_rate_limit_retries
        self.conn_id = conn_id
        self._sleep = sleep
        self._clock = clock
        # tweepy logs request headers, bearer token included, at DEBUG: never let that through.
        tweepy_log = logging.getLogger("tweepy.client")
        if tweepy_log.getEffectiveLevel() < logging.INFO:
            tweepy_log.setLevel(logging.INFO)

    def __repr__(self) -> str:
        return f"XApiTweetSource(query={self.query!r}, city={self.city!r}, max_pages={self.max_pages})"

    def title(self) -> str:
        return "the X API"

    def run_report(self) -> dict[str, Any]:
        return {"query": self.query}

    def describe(self) -> str:
        return (
            f"X API recent search (connection {self.conn_id}): query {self.query!r}, "
            f"up to {self.max_pages} pages of {self.max_results}"
        )

    def _client(self) -> tweepy.Client:
        client = tweepy.Client(bearer_token=self._bearer_token, wait_on_rate_limit=False, return_type=dict)
        client.session.close()
        client.session = _TimeoutSession(self.timeout)
        return client

    def _check_interval(self, interval: Interval) -> None:
        now = datetime.fromtimestamp(self._clock(), UTC)
        if interval.start < now - SEARCH_WINDOW:
            raise SourceRequestRejected(
                f"interval {interval} starts more than 7 days ago: X recent search cannot reach it. "
                "Trigger the run with source=replay to fill past intervals offline."
            )
        too_early = interval.end + END_TIME_MIN_AGE - now
        if too_early > timedelta(minutes=1):
            raise SourceRequestRejected(f"interval {interval} ends in the future; nothing to search yet")
        if too_early > timedelta(0):
            # The API wants end_time at least 10 s in the past; the run starts right at the end.
            self._sleep(too_early.total_seconds())

    def _rate_limit_wait(self, err: tweepy.TooManyRequests) -> float:
        if err.reset_time is None:
            return RATE_LIMIT_FALLBACK_WAIT_SECONDS
        return max(0.0, err.reset_time - self._clock() + 1.0)

    def _fetch(self, client: tweepy.Client, interval: Interval, next_token: str | None, label: str) -> Any:
        """One page, retried as the module docstring says; raises when it cannot be had."""

        def attempt() -> Any:
            try:
                return client.search_recent_tweets(
                    self.query,
                    start_time=interval.start,
                    end_time=interval.end,
                    max_results=self.max_results,
                    tweet_fields=TWEET_FIELDS,
                    next_token=next_token,
                )
            except tweepy.TooManyRequests as err:
                raise RateLimited(self._rate_limit_wait(err)) from None
            except tweepy.Unauthorized:
                raise ConfigurationError(
                    f"the X API rejected the bearer token (401 Unauthorized): set a valid token in "
                    f"connection '{self.conn_id}' (password, or extra 'bearer_token')"
                ) from None
            except tweepy.Forbidden as err:
                raise ConfigurationError(
                    f"the X API refused recent search with the bearer token of connection '{self.conn_id}' "
                    f"(403 Forbidden: {_api_messages(err)}); check the app's access level and project, "
                    f"or set another token in connection '{self.conn_id}'"
                ) from None
            except tweepy.BadRequest as err:
                raise SourceRequestRejected(
                    f"{label}: the X API rejected the request (400): {_api_messages(err)}"
                ) from None
            except (
                tweepy.TwitterServerError,
                requests.Timeout,
                requests.ConnectionError,
                requests.JSONDecodeError,
            ) as err:
                reason = (
                    f"HTTP {err.response.status_code}"
                    if isinstance(err, tweepy.TwitterServerError)
                    else type(err).__name__
                )
                raise RetriableFailure(reason, cause=err) from None

        retrying = http_retry(
            RetryPolicy(self.timeout, self.max_attempts, self.backoff_seconds),
            label,
            log,
            source=SOURCE_NAME,
            sleep=self._sleep,
            failing="X API",
            giving_up="the X API",
            rate_limits=RateLimits(self.max_rate_limit_wait, self.max_rate_limit_retries),
        )
        return retrying(attempt)

    def pages(self, interval: Interval) -> Iterator[SourcePage[TweetRecord]]:
        self._check_interval(interval)
        client = self._client()
        try:
            next_token: str | None = None
            for number in range(1, self.max_pages + 1):
                label = f"page {number}"
                payload = self._fetch(client, interval, next_token, label)
                page, next_token = parse_search_page(payload, self.city, label)
                if next_token and number == self.max_pages:
                    page.warnings.append(
                        f"stopped after max_pages={self.max_pages}: "
                        "the interval has more tweets than were fetched"
                    )
                yield page
                if not next_token:
                    break
        finally:
            client.session.close()
