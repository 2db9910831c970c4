"""The tweets stream: posts (X, Mastodon, the replay) -> the tweets topic -> the ``tweets`` table.

A post's row carries its sentiment, scored by the drain in one batch per micro-batch
(:func:`rows`); ``ingested_at`` is the time of the drain that wrote the row last, the only thing a
replay changes. The Kafka key is the post id.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import msgspec

from kafkapipeline.sentiment.scorers import default_scorer
from kafkapipeline.sentiment.vader import Sentiment
from kafkapipeline.settings import SCHEMA_VERSION
from kafkapipeline.streams.base import (
    DERIVED,
    DRAIN,
    LATER,
    City,
    Column,
    Count,
    InvalidRecord,
    Kind,
    Label,
    Record,
    Stream,
    Table,
    TextSet,
    shown,
    utc_field,
)

#: Post id (a clustering key): X and Mastodon ids are about 19 digits; 128 leaves room for a prefix.
TWEET_ID_MAX_CHARS = 128
#: Post text: X long posts reach 25,000 characters, Mastodon servers allow 500 by default
#: and a few thousand at most; nothing longer is a real post.
TEXT_MAX_CHARS = 25_000
#: Language tag: BCP 47 tags in real use are under 35 characters.
LANG_MAX_CHARS = 35

#: A hashtag in a post's text: ``#`` and word characters, not inside a word (``a#b`` is none).
_HASHTAG = re.compile(r"(?<![\w#&])#(\w+)")


def hashtags_in(text: str) -> frozenset[str]:
    """The hashtags a post's text shows, lower-case without ``#`` (all digits is no hashtag)."""
    return frozenset(tag.lower() for tag in _HASHTAG.findall(text) if not tag.isdigit())


def _tweet_id(tweet_id: str | int) -> str:
    """A post id as text without surrounding whitespace (a number made text); refused when empty."""
    if not isinstance(tweet_id, str):
        if abs(tweet_id) >= 10**TWEET_ID_MAX_CHARS:
            raise InvalidRecord(f"tweet_id: a number of more than {TWEET_ID_MAX_CHARS} digits")
        tweet_id = str(tweet_id)
    stripped = tweet_id.strip()
    if not stripped:
        raise InvalidRecord(f"tweet_id: required id is missing or not text: {shown(tweet_id)}")
    return stripped


#: A post's text: required, and not only whitespace (nothing to score, nothing a reader can see).
PostText = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=TEXT_MAX_CHARS,
        pattern=r"\S",
        description="text with a character other than whitespace",
    ),
]

if TYPE_CHECKING:
    TweetId = str  # what a record holds: __post_init__ makes a numeric id text
else:
    TweetId = Annotated[str, msgspec.Meta(max_length=TWEET_ID_MAX_CHARS)] | int


class TweetRecord(Record, frozen=True, tag=SCHEMA_VERSION):
    """One post as produced to the tweets topic. Kafka key: ``tweet_id``.

    Also accepted on the wire: a number as ``tweet_id`` (made text), ``""`` for an optional
    label (taken as missing; ``source`` then ``"unknown"``), a timestamp with any offset (made UTC),
    hashtags with ``#`` or capitals (stored lower-case without it; none at all is null, as in Cassandra).
    Refused: an empty or all-whitespace text, a negative or fractional count.
    """

    KIND: ClassVar[str] = "tweet"

    tweet_id: TweetId
    text: PostText
    created_at: datetime
    city: City
    lang: Annotated[str, msgspec.Meta(max_length=LANG_MAX_CHARS)] | None = None
    author_id: Label | None = None
    retweet_count: Count | None = None
    reply_count: Count | None = None
    like_count: Count | None = None
    quote_count: Count | None = None
    place_id: Label | None = None
    source: Label = "unknown"
    hashtags: TextSet | None = None
    kind: Kind | None = KIND

    def __post_init__(self) -> None:
        # Direct attribute tests, cheapest first: the drain runs this for every message it decodes.
        set_ = msgspec.structs.force_setattr
        tweet_id: str | int = self.tweet_id
        if type(tweet_id) is not str or not tweet_id or tweet_id[0].isspace() or tweet_id[-1].isspace():
            set_(self, "tweet_id", _tweet_id(tweet_id))
        if self.created_at.tzinfo is not UTC:
            set_(self, "created_at", utc_field("created_at", self.created_at))
        if self.lang == "":
            set_(self, "lang", None)
        if self.author_id == "":
            set_(self, "author_id", None)
        if self.place_id == "":
            set_(self, "place_id", None)
        if not self.source:
            set_(self, "source", "unknown")
        if self.hashtags is not None:
            tags = frozenset(tag.lstrip("#").lower() for tag in self.hashtags) - {""}
            if not tags or tags != self.hashtags:
                set_(self, "hashtags", tags or None)
        if self.kind != self.KIND:
            self.check_kind(self.kind)

    @property
    def key(self) -> bytes:
        return self.tweet_id.encode("utf-8")

    @property
    def day(self) -> date:
        return self.created_at.date()


TWEETS_TABLE = Table(
    name="tweets",
    columns=(
        Column("city", "text"),
        Column("day", "date", DERIVED),
        Column("created_at", "timestamp"),
        Column("tweet_id", "text"),
        Column("text", "text"),
        Column("lang", "text"),
        Column("author_id", "text"),
        Column("retweet_count", "int"),
        Column("reply_count", "int"),
        Column("like_count", "int"),
        Column("quote_count", "int"),
        Column("place_id", "text"),
        Column("source", "text"),
        Column("hashtags", "set<text>"),  # 0010
        Column("sentiment_score", "double", DRAIN),
        Column("sentiment_label", "text", DRAIN),
        Column("sentiment_model", "text", DRAIN),  # 0009
        Column("sentiment_model_version", "text", DRAIN),  # 0009
        Column("ingested_at", "timestamp", DRAIN),
        Column("source_label", "text", LATER),  # 0008
    ),
    partition_key=("city", "day"),
    clustering=(("created_at", "desc"), ("tweet_id", "asc")),
    size_column="text",
)

_build = TWEETS_TABLE.row_builder


def tweet_row(
    record: TweetRecord,
    ingested_at: datetime | None,
    *,
    sentiment: Sentiment | None = None,
    model: tuple[str, str] | None = None,
) -> tuple[Any, ...]:
    """The ``tweets`` row of a post (columns in ``TWEETS_TABLE.drain_columns`` order).

    ``sentiment`` and ``model`` (name, version) are given when a row is restored as it was (the
    CSV import of an export, where an unknown model is left unset); otherwise the text is scored
    here with the default model.
    """
    if sentiment is None:
        scorer = default_scorer()
        sentiment = scorer.score_batch([record.text])[0]
        model = (scorer.name, scorer.version)
    model_name, model_version = model or (None, None)
    return _build(record, sentiment.score, sentiment.label, model_name, model_version, ingested_at)


def rows(records: Sequence[TweetRecord], ingested_at: datetime | None) -> list[tuple[Any, ...]]:
    """The rows of a micro-batch of posts, their texts scored in one batch by the default model."""
    scorer = default_scorer()
    scores = scorer.score_batch([record.text for record in records])
    name, version = scorer.name, scorer.version
    build = _build
    return [
        build(record, sentiment.score, sentiment.label, name, version, ingested_at)
        for record, sentiment in zip(records, scores, strict=True)
    ]


def scoring_model() -> tuple[str, str]:
    """(name, version) of the model :func:`rows` scores with."""
    scorer = default_scorer()
    return scorer.name, scorer.version


TWEETS = Stream(
    name="tweets",
    record_type=TweetRecord,
    topic_setting="tweets_topic",
    table=TWEETS_TABLE,
    rows=rows,
    retention_setting="retention_days_tweets",
    retention_param="tweets_retention_days",
    partitions_param="tweets_partitions",
    csv_required=("city", "created_at", "tweet_id", "text"),
    scoring_model=scoring_model,
)
