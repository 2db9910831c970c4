"""The tweets stream's own rules: hashtags as every source stores them."""

from __future__ import annotations

import json

import pytest

from kafkapipeline.sentiment.vader import Sentiment
from kafkapipeline.streams.base import InvalidRecord, decode_record
from kafkapipeline.streams.tweets import TWEETS_TABLE, TweetRecord, hashtags_in, tweet_row

BASE = {
    "schema_version": 1,
    "tweet_id": "1",
    "text": "hi",
    "created_at": "2026-05-01T10:00:00Z",
    "city": "Vancouver",
}


@pytest.mark.parametrize(
    ("text", "tags"),
    [
        ("Sun is out #Vancouver #yvr", {"vancouver", "yvr"}),
        ("#PNW at dawn, #pnw at dusk", {"pnw"}),
        ("e-mail a#b, HTML &#39; and #1 are no hashtags", set()),
        ("unicode works: #café #東京", {"café", "東京"}),
        ("#snake_case_tag!", {"snake_case_tag"}),
    ],
)
def test_hashtags_in_a_text(text, tags):
    assert hashtags_in(text) == frozenset(tags)


def test_hashtags_are_stored_lower_case_without_the_hash_and_none_is_null():
    def decoded(hashtags):
        return decode_record(TweetRecord, json.dumps({**BASE, "hashtags": hashtags}).encode()).hashtags

    assert decoded(["#YVR", "yvr", "Rain"]) == frozenset({"yvr", "rain"})
    assert decoded([]) is None  # Cassandra stores an empty set as null: the record says so at once
    assert decoded(None) is None
    assert decode_record(TweetRecord, json.dumps(BASE).encode()).hashtags is None  # values before 0010


def test_a_bad_hashtag_list_is_dead_lettered_with_the_field_named():
    with pytest.raises(InvalidRecord, match=r"^hashtags"):
        decode_record(TweetRecord, json.dumps({**BASE, "hashtags": "yvr"}).encode())
    with pytest.raises(InvalidRecord, match=r"^hashtags"):
        decode_record(TweetRecord, json.dumps({**BASE, "hashtags": [1]}).encode())


def test_the_hashtags_reach_their_column():
    record = decode_record(TweetRecord, json.dumps({**BASE, "hashtags": ["yvr"]}).encode())
    row = tweet_row(record, None, sentiment=Sentiment(0.5, "Positive"), model=("m", "1"))
    assert row[TWEETS_TABLE.drain_columns.index("hashtags")] == frozenset({"yvr"})
