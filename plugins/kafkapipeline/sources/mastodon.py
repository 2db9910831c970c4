"""Public posts from a Mastodon instance: hashtag timelines and, optionally, its local timeline.

Connection ``mastodon_default``: ``host`` the instance URL, ``password`` an optional access token
(anonymous reads otherwise), the extra ``hashtags``, ``local_timeline`` and ``max_pages``. Each
timeline is read newest first by ``max_id`` (the ``Link`` header), which alone tells the end of
what the instance keeps from an interval without posts; a far-back interval jumps straight to
the snowflake id of its end (plus slack for late federated posts). A timeline that ends before
the interval is reported in the XCom (``history_gaps``); a status on two timelines is produced
once; reblogs are skipped (the original is on the timeline already, dated outside the interval).
``requests``, not ``Mastodon.py``: every retry must be bounded and its sleeps injectable.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict
from urllib.parse import quote, urlsplit

from kafkapipeline import settings
from kafkapipeline.errors import ConfigurationError
from kafkapipeline.sources.base import Interval, RecordSource, SkippedItem, SourcePage
from kafkapipeline.sources.html_text import html_to_text
from kafkapipeline.sources.mastodon_http import SOURCE_NAME, MastodonClient
from kafkapipeline.streams.base import InvalidRecord
from kafkapipeline.streams.tweets import TweetRecord

log = logging.getLogger(__name__)

#: Statuses per page: the most Mastodon's timelines return.
PAGE_LIMIT = 40
#: A backfill jump lands this long after the interval's end (late-arriving remote posts).
JUMP_SLACK = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Snowflake ids outside this range are not Mastodon's (Mastodon adopted them in 2017).
_SNOWFLAKE_FROM = datetime(2016, 1, 1, tzinfo=UTC)
_HASHTAG = re.compile(r"^\w+$")


def snowflake_at(moment: datetime) -> str:
    """The smallest Mastodon status id minted at ``moment`` (``milliseconds << 16``)."""
    return str(int((moment - _EPOCH) // timedelta(milliseconds=1)) << 16)


def snowflake_time(status_id: str, now: datetime) -> datetime | None:
    """When a Mastodon snowflake id was minted, or ``None`` when ``status_id`` is not one."""
    if not status_id.isdigit() or len(status_id) > 20:
        return None
    moment = _EPOCH + timedelta(milliseconds=int(status_id) >> 16)
    return moment if _SNOWFLAKE_FROM <= moment <= now + timedelta(days=1) else None


def instance_url(host: str, schema: str | None = None, port: int | None = None) -> str:
    """``https://host[:port]`` from a connection's host (with or without a scheme)."""
    host = (host or "").strip().rstrip("/")
    if not host:
        raise ValueError("no instance host")
    if "://" not in host:
        scheme = schema if schema in ("http", "https") else "https"
        host = f"{scheme}://{host}{f':{port}' if port else ''}"
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) instance URL: {host!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def normalise_hashtags(hashtags: Any) -> list[str]:
    """Hashtags without ``#``, from a list or a comma-separated string; unique, order kept."""
    if isinstance(hashtags, str):
        hashtags = hashtags.split(",")
    if not isinstance(hashtags, (list, tuple)):
        raise ValueError(f"hashtags must be a list or a comma-separated string, got {hashtags!r}")
    names = [str(tag).strip().lstrip("#") for tag in hashtags if str(tag).strip().lstrip("#")]
    bad = [name for name in names if not _HASHTAG.match(name)]
    if bad:
        raise ValueError(f"not hashtags (letters, digits and _ only): {', '.join(bad)}")
    return list(dict.fromkeys(names))


def parse_status(item: Any, city: str, source: str) -> TweetRecord:
    """One status as a :class:`TweetRecord`; :class:`InvalidRecord` says why it cannot be."""
    if not isinstance(item, dict):
        raise InvalidRecord(f"status is {type(item).__name__}, expected an object")
    status_id = item.get("id")
    if not isinstance(status_id, str) or not status_id.strip():
        raise InvalidRecord(f"id: missing or not text: {status_id!r}")
    content = item.get("content")
    if content is not None and not isinstance(content, str):
        raise InvalidRecord(f"content: expected HTML text, got {type(content).__name__}")
    text = html_to_text(content)
    spoiler = item.get("spoiler_text")
    if isinstance(spoiler, str) and spoiler.strip():
        text = f"{spoiler.strip()}\n\n{text}".strip()
    if not text:  # a post with only pictures: say what it carries rather than nothing
        media = [m.get("type") for m in item.get("media_attachments") or [] if isinstance(m, dict)]
        text = " ".join(f"[{kind or 'media'}]" for kind in media)
    account = item.get("account")
    author_id = account.get("id") if isinstance(account, dict) else None
    tags = item.get("tags")
    hashtags = [tag.get("name") for tag in tags if isinstance(tag, dict)] if isinstance(tags, list) else None
    return TweetRecord.from_dict(
        {
            "tweet_id": status_id,
            "text": text,
            "created_at": item.get("created_at"),
            "city": city,
            "lang": item.get("language"),
            "author_id": None if author_id is None else str(author_id),
            "retweet_count": item.get("reblogs_count"),
            "reply_count": item.get("replies_count"),
            "like_count": item.get("favourites_count"),
            "quote_count": item.get("quotes_count"),
            "place_id": None,
            "source": source,
            "hashtags": hashtags or None,
        }
    )


@dataclass(frozen=True)
class Timeline:
    label: str  # "#Vancouver", "local timeline"
    path: str
    params: dict[str, str]


class _ClientOptions(TypedDict):
    """The :class:`MastodonClient` keyword arguments a source passes through unchanged."""

    timeout: float
    max_attempts: int
    backoff_seconds: float
    max_rate_limit_wait: float
    max_rate_limit_retries: int


@dataclass
class _Walk:
    """What one timeline's paging has seen so far."""

    oldest: datetime | None = None  # position (id time, else created_at) of the oldest status seen
    oldest_created: datetime | None = None  # the oldest created_at seen, for messages
    reached_start: bool = False


class MastodonTweetSource(RecordSource[TweetRecord]):
    """Public posts of one instance for ``hashtags`` (and its local timeline), per interval.

    :param base_url: the instance, e.g. ``https://mastodon.social``
    :param access_token: optional; anonymous reads when ``None``; never logged
    :param hashtags: hashtags to read, without ``#``
    :param local_timeline: also read the instance's local public timeline
    :param city: city the posts are filed under (``TweetRecord.city``)
    :param max_pages: most pages per timeline per run (40 statuses a page)
    :param sleep: ``time.sleep`` (replaceable in tests)
    :param clock: ``time.time`` (replaceable in tests)
    """

    name = SOURCE_NAME

    def __init__(
        self,
        base_url: str,
        access_token: str | None = None,
        *,
        hashtags: list[str] | tuple[str, ...] = settings.DEFAULT_MASTODON_HASHTAGS,
        local_timeline: bool = False,
        city: str = "Vancouver",
        max_pages: int = 20,
        timeout: float = 30.0,
        max_attempts: int = 3,
        backoff_seconds: float = 2.0,
        max_rate_limit_wait: float = 600.0,
        max_rate_limit_retries: int = 3,
        conn_id: str = settings.MASTODON_CONN_ID,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = instance_url(base_url)
        self.host = urlsplit(self.base_url).netloc
        self.hashtags = normalise_hashtags(list(hashtags))
        self.local_timeline = local_timeline
        if not self.hashtags and not local_timeline:
            raise ValueError("nothing to read: give at least one hashtag or set local_timeline")
        if not city or not city.strip():
            raise ValueError("city must not be empty")
        if max_pages < 1:
            raise ValueError(f"max_pages must be at least 1, got {max_pages}")
        self.city = city.strip()
        self.max_pages = max_pages
        self.conn_id = conn_id
        self._token = access_token or None
        self._client_options: _ClientOptions = {
            "timeout": timeout,
            "max_attempts": max_attempts,
            "backoff_seconds": backoff_seconds,
            "max_rate_limit_wait": max_rate_limit_wait,
            "max_rate_limit_retries": max_rate_limit_retries,
        }
        self._sleep = sleep
        self._clock = clock
        self.report: dict[str, Any] = {}

    @classmethod
    def from_connection(cls, conn: Any, conn_id: str, **options: Any) -> MastodonTweetSource:
        """The source a ``mastodon_default``-style Airflow connection describes."""
        extra = conn.extra_dejson or {}
        try:
            base_url = instance_url(conn.host or "", conn.schema, conn.port)
        except ValueError as err:
            raise ConfigurationError(
                f"connection '{conn_id}' needs the instance URL in its host ({err}), for example "
                f'AIRFLOW_CONN_{conn_id.upper()}=\'{{"conn_type": "http", "host": "https://mastodon.social"}}\''
            ) from None
        local = extra.get("local_timeline", False)
        if isinstance(local, str):
            local = local.strip().lower() in ("1", "true", "yes", "on")
        try:
            hashtags = (
                normalise_hashtags(extra["hashtags"]) if "hashtags" in extra else settings.mastodon_hashtags()
            )
            if "max_pages" in extra:
                options["max_pages"] = int(extra["max_pages"])
            return cls(
                base_url,
                conn.password or None,
                hashtags=hashtags,
                local_timeline=bool(local),
                conn_id=conn_id,
                **options,
            )
        except ValueError as err:
            raise ConfigurationError(f"connection '{conn_id}': {err}") from None

    def __repr__(self) -> str:
        return (
            f"MastodonTweetSource({self.base_url!r}, hashtags={self.hashtags!r}, local={self.local_timeline})"
        )

    def title(self) -> str:
        return f"Mastodon {self.host}"

    def describe(self) -> str:
        reads = [f"#{tag}" for tag in self.hashtags] + (["the local timeline"] if self.local_timeline else [])
        access = "with an access token" if self._token else "anonymously"
        return (
            f"Mastodon {self.host} (connection {self.conn_id}, {access}): {', '.join(reads)}, "
            f"up to {self.max_pages} pages of {PAGE_LIMIT} per timeline"
        )

    def timelines(self) -> list[Timeline]:
        found = [
            Timeline(f"#{tag}", f"/api/v1/timelines/tag/{quote(tag, safe='')}", {}) for tag in self.hashtags
        ]
        if self.local_timeline:
            found.append(Timeline("local timeline", "/api/v1/timelines/public", {"local": "true"}))
        return found

    def pages(self, interval: Interval) -> Iterator[SourcePage[TweetRecord]]:
        client = MastodonClient(
            self.base_url,
            self._token,
            conn_id=self.conn_id,
            sleep=self._sleep,
            clock=self._clock,
            **self._client_options,
        )
        seen: set[str] = set()
        self.report = {"instance": self.host, "duplicates": 0, "reblogs_skipped": 0, "history_gaps": []}
        try:
            for timeline in self.timelines():
                yield from self._timeline_pages(client, timeline, interval, seen)
        finally:
            client.close()

    def _timeline_pages(
        self, client: MastodonClient, timeline: Timeline, interval: Interval, seen: set[str]
    ) -> Iterator[SourcePage[TweetRecord]]:
        now = datetime.fromtimestamp(self._clock(), UTC)
        walk = _Walk()
        max_id: str | None = None
        jump_to = interval.end + JUMP_SLACK
        for number in range(1, self.max_pages + 1):
            label = f"{timeline.label} page {number}"
            params = {**timeline.params, "limit": str(PAGE_LIMIT)} | ({"max_id": max_id} if max_id else {})
            answer = client.get_page(
                timeline.path, params, label=label, what=f"the {timeline.label} timeline"
            )
            page: SourcePage[TweetRecord] = SourcePage(label=label)
            if not isinstance(answer.payload, list):
                page.failure = (
                    f"{label}: response is {type(answer.payload).__name__}, expected a list of statuses"
                )
                yield page
                return
            last = not answer.payload
            if answer.payload:
                snowflakes = self._read_statuses(
                    answer.payload, page, interval=interval, seen=seen, walk=walk, now=now
                )
                max_id = answer.next_max_id or _last_id(answer.payload)
                if snowflakes and walk.oldest is not None and walk.oldest > jump_to:
                    jump = snowflake_at(jump_to)  # far newer than the interval: skip the pages between
                    max_id = jump if max_id is None or not max_id.isdigit() else min(max_id, jump, key=int)
                last = walk.reached_start or max_id is None or (answer.has_link and not answer.next_max_id)
            if last and not walk.reached_start:
                self._report_gap(timeline, interval, walk, page)
            elif number == self.max_pages and not walk.reached_start:
                page.warnings.append(
                    f"{timeline.label}: stopped after max_pages={self.max_pages} before reaching "
                    f"{interval.start.isoformat()}: older posts of the interval were not read "
                    "(raise max_pages in the connection's extra)"
                )
            yield page
            if last:
                return

    def _read_statuses(
        self,
        statuses: list[Any],
        page: SourcePage[TweetRecord],
        *,
        interval: Interval,
        seen: set[str],
        walk: _Walk,
        now: datetime,
    ) -> bool:
        """Records of the interval into ``page``; updates ``walk``; says whether all ids were snowflakes."""
        snowflakes = True
        source = f"{SOURCE_NAME}:{self.host}"
        for item in statuses:
            status_id = item.get("id") if isinstance(item, dict) else None
            minted = snowflake_time(status_id, now) if isinstance(status_id, str) else None
            snowflakes = snowflakes and minted is not None
            try:
                record = parse_status(item, self.city, source)
            except InvalidRecord as err:
                page.skipped.append(SkippedItem(str(err), None if status_id is None else str(status_id)))
                if minted is not None:
                    walk.oldest = minted if walk.oldest is None else min(walk.oldest, minted)
                continue
            position = minted or record.created_at  # where the status sits in the timeline's order
            walk.oldest = position if walk.oldest is None else min(walk.oldest, position)
            created = record.created_at
            walk.oldest_created = (
                created if walk.oldest_created is None else min(walk.oldest_created, created)
            )
            if position < interval.start and record.created_at < interval.start:
                walk.reached_start = True
            if item.get("reblog"):
                self.report["reblogs_skipped"] += 1
            elif interval.contains(record.created_at):
                if record.tweet_id in seen:
                    self.report["duplicates"] += 1
                else:
                    seen.add(record.tweet_id)
                    page.records.append(record)
        if statuses and not page.records and len(page.skipped) == len(statuses):
            page.failure = (
                f"{page.label}: none of the {len(statuses)} statuses could be read "
                f"(first reason: {page.skipped[0].reason})"
            )
        return snowflakes

    def _report_gap(
        self, timeline: Timeline, interval: Interval, walk: _Walk, page: SourcePage[TweetRecord]
    ) -> None:
        """The timeline ended before the interval's start: say so on its last page and in the report."""
        oldest = walk.oldest_created or walk.oldest
        if oldest is None:
            log.info("%s: the instance has no posts at all on this timeline", timeline.label)
            return
        gap = (
            f"{timeline.label}: {self.host} returns nothing older than {oldest.isoformat()}, but the "
            f"interval starts at {interval.start.isoformat()}: posts before that are not available from this "
            "instance's timeline"
        )
        page.warnings.append(gap)
        self.report["history_gaps"].append(gap)

    def run_report(self) -> dict[str, Any]:
        """Instance, duplicates, reblogs skipped and history gaps of the last :meth:`pages` run."""
        return dict(self.report)


def _last_id(statuses: list[Any]) -> str | None:
    last = statuses[-1]
    status_id = last.get("id") if isinstance(last, dict) else None
    return status_id if isinstance(status_id, str) and status_id else None
