"""The X API source at the HTTP edge: the recorded real response, pagination, rate limits and errors.

``responses`` stands in for api.twitter.com (unreachable here); tweepy itself runs for
real, so these tests exercise its request building and error mapping too. Page bodies
are the recorded real response (reference-data/x_api_v2_search_recent_response.json),
or variations of it where a test needs other ids or broken items.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses

from kafkapipeline.errors import ConfigurationError
from kafkapipeline.sources.base import Interval, SourceRequestRejected, SourceUnavailable
from kafkapipeline.sources.replay import snowflake_time
from kafkapipeline.sources.x_api import XApiTweetSource, parse_search_page

SEARCH_URL = "https://api.twitter.com/2/tweets/search/recent"
TOKEN = "test-bearer-token-not-real"
# The recorded tweets were created 2022-10-07 between 22:24 and 22:43 UTC.
INTERVAL = Interval(datetime(2022, 10, 7, 22, 20, tzinfo=UTC), datetime(2022, 10, 7, 22, 50, tzinfo=UTC))
NOW = datetime(2022, 10, 7, 23, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def recorded(reference_data) -> dict:
    return json.loads((reference_data / "x_api_v2_search_recent_response.json").read_text())


@pytest.fixture
def second_page(recorded) -> dict:
    """Another page: the recorded items with other ids (older by one minute), and no next_token."""
    page = copy.deepcopy(recorded)
    for item in page["data"]:
        new_id = str(int(item["id"]) - (60_000 << 22))
        item["id"] = new_id
        item["edit_history_tweet_ids"] = [new_id]
    del page["meta"]["next_token"]
    return page


class Sleeps:
    """Records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_source(sleeps: Sleeps, **overrides) -> XApiTweetSource:
    options = {"max_pages": 5, "max_results": 10, "sleep": sleeps, "clock": lambda: NOW} | overrides
    return XApiTweetSource(TOKEN, **options)


def query_of(call) -> dict[str, list[str]]:
    return parse_qs(urlparse(call.request.url).query)


def test_recorded_response_without_fields_becomes_records(recorded):
    page, next_token = parse_search_page(recorded, "Vancouver", "page 1")

    assert next_token == recorded["meta"]["next_token"]
    assert page.failure is None and page.skipped == []
    assert [r.tweet_id for r in page.records] == [item["id"] for item in recorded["data"]]
    for record in page.records:
        # created_at was not in the response: derived from the snowflake id. The recorded
        # texts are the posting script's own timestamps, taken just before posting.
        assert record.created_at == snowflake_time(int(record.tweet_id))
        written = datetime.fromisoformat(record.text.removesuffix(" tweepy")).replace(tzinfo=UTC)
        assert timedelta(0) <= record.created_at - written < timedelta(seconds=2)
        assert (record.lang, record.author_id, record.like_count, record.place_id) == (None, None, None, None)
        assert record.city == "Vancouver" and record.source == "x_api"


def test_requested_fields_are_used_when_present(recorded):
    item = recorded["data"][0] | {
        "created_at": "2022-10-07T22:42:12.000Z",
        "lang": "en",
        "author_id": "1234",
        "public_metrics": {"retweet_count": 1, "reply_count": 2, "like_count": 3, "quote_count": 4},
        "geo": {"place_id": "abc123"},
    }
    page, _ = parse_search_page({"data": [item], "meta": {"result_count": 1}}, "Burnaby", "page 1")

    (record,) = page.records
    assert record.created_at == datetime(2022, 10, 7, 22, 42, 12, tzinfo=UTC)
    assert (record.lang, record.author_id, record.place_id, record.city) == (
        "en",
        "1234",
        "abc123",
        "Burnaby",
    )
    assert (record.retweet_count, record.reply_count, record.like_count, record.quote_count) == (1, 2, 3, 4)


def test_malformed_items_are_counted_and_skipped_with_reasons(recorded):
    good = recorded["data"][0]
    items = [
        good,
        {"text": "no id"},
        {"id": "not-a-number", "text": "bad id"},
        {"id": "1578516068309794999"},
        {"id": "1578516068309794998", "text": "x", "created_at": "yesterday"},
        {"id": "1578516068309794997", "text": "x", "public_metrics": [1, 2]},
        "just a string",
    ]
    page, _ = parse_search_page({"data": items, "meta": {"result_count": 7}}, "Vancouver", "page 1")

    assert [r.tweet_id for r in page.records] == [good["id"]]
    reasons = [s.reason for s in page.skipped]
    assert len(reasons) == 6
    assert any(r.startswith("id:") for r in reasons)
    assert any(r.startswith("text:") for r in reasons)
    assert any(r.startswith("created_at:") for r in reasons)
    assert any(r.startswith("public_metrics:") for r in reasons)
    assert any("expected an object" in r for r in reasons)
    assert page.failure is None  # one tweet was usable


def test_a_tweet_with_an_empty_text_or_a_negative_count_is_skipped_with_the_field_named(recorded):
    good = recorded["data"][0]
    items = [
        good,
        {**good, "id": "1578516068309794990", "text": ""},
        {**good, "id": "1578516068309794991", "public_metrics": {"retweet_count": 2, "like_count": -5}},
        {**good, "id": "1578516068309794992", "public_metrics": {"reply_count": 1.5}},
    ]
    page, _ = parse_search_page({"data": items, "meta": {"result_count": 4}}, "Vancouver", "page 1")

    assert [r.tweet_id for r in page.records] == [good["id"]]
    assert [(s.item_id, s.reason) for s in page.skipped] == [
        ("1578516068309794990", "text: required text is empty"),
        (
            "1578516068309794991",
            "like_count: -5 is outside the range of a count [0, 2147483647] (never negative)",
        ),
        ("1578516068309794992", "reply_count: expected an integer or null, got 1.5"),
    ]


def test_page_with_data_but_nothing_usable_is_a_failure():
    page, _ = parse_search_page({"data": [{"text": "a"}, {"id": "x"}], "meta": {}}, "Vancouver", "page 3")
    assert page.records == [] and len(page.skipped) == 2
    assert page.failure and "page 3" in page.failure and "none of the 2" in page.failure


def test_empty_result_is_not_a_failure():
    page, token = parse_search_page({"meta": {"result_count": 0}}, "Vancouver", "page 1")
    assert (page.records, page.skipped, page.failure, token) == ([], [], None, None)


@responses.activate
def test_request_asks_for_the_interval_and_fields(recorded, sleeps):
    responses.get(SEARCH_URL, json={"meta": {"result_count": 0}})

    pages = list(make_source(sleeps, query="rain Vancouver").pages(INTERVAL))

    assert len(pages) == 1 and pages[0].records == []
    (call,) = responses.calls
    params = query_of(call)
    assert params["query"] == ["rain Vancouver"]
    assert params["start_time"] == ["2022-10-07T22:20:00Z"]
    assert params["end_time"] == ["2022-10-07T22:50:00Z"]
    assert params["max_results"] == ["10"]
    assert set(params["tweet.fields"][0].split(",")) == {
        "created_at",
        "lang",
        "author_id",
        "public_metrics",
        "geo",
        "entities",
    }
    assert "next_token" not in params
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"


@responses.activate
def test_follows_next_token_until_the_last_page(recorded, second_page, sleeps):
    token = recorded["meta"]["next_token"]
    responses.get(
        SEARCH_URL,
        json=second_page,
        match=[responses.matchers.query_param_matcher({"next_token": token}, strict_match=False)],
    )
    responses.get(SEARCH_URL, json=recorded)

    pages = list(make_source(sleeps).pages(INTERVAL))

    assert [len(p.records) for p in pages] == [10, 10]
    assert [query_of(c).get("next_token") for c in responses.calls] == [None, [token]]
    ids = [r.tweet_id for p in pages for r in p.records]
    assert len(set(ids)) == 20


@responses.activate
def test_page_cap_stops_and_warns(recorded, sleeps):
    responses.get(SEARCH_URL, json=recorded)

    pages = list(make_source(sleeps, max_pages=1).pages(INTERVAL))

    assert len(responses.calls) == 1
    assert len(pages) == 1 and "max_pages=1" in pages[0].warnings[0]


@responses.activate
def test_rate_limit_waits_for_the_reset_and_fetches_the_same_page_once_more(recorded, second_page, sleeps):
    token = recorded["meta"]["next_token"]
    on_page_two = [responses.matchers.query_param_matcher({"next_token": token}, strict_match=False)]
    reset = int(NOW) + 42
    # Registered in order: the first request for page 2 gets the 429, the next one the page.
    responses.get(
        SEARCH_URL,
        status=429,
        json={"title": "Too Many Requests"},
        headers={"x-rate-limit-reset": str(reset)},
        match=on_page_two,
    )
    responses.get(SEARCH_URL, json=second_page, match=on_page_two)
    responses.get(SEARCH_URL, json=recorded)

    pages = list(make_source(sleeps).pages(INTERVAL))

    assert sleeps.calls == [pytest.approx(43.0)]  # until the announced reset (+1 s margin)
    page_two_requests = [c for c in responses.calls if query_of(c).get("next_token") == [token]]
    assert len(page_two_requests) == 2  # the same page (same next_token) asked for again
    assert [p.label for p in pages] == ["page 1", "page 2"]  # ...but yielded once
    ids = [r.tweet_id for p in pages for r in p.records]
    assert len(ids) == len(set(ids)) == 20


@responses.activate
def test_rate_limit_longer_than_the_allowed_wait_fails_after_the_pages_already_yielded(recorded, sleeps):
    token = recorded["meta"]["next_token"]
    on_page_two = [responses.matchers.query_param_matcher({"next_token": token}, strict_match=False)]
    responses.get(
        SEARCH_URL, status=429, headers={"x-rate-limit-reset": str(int(NOW) + 3600)}, match=on_page_two
    )
    responses.get(SEARCH_URL, json=recorded)

    yielded = []
    with pytest.raises(SourceUnavailable, match=r"page 2: rate limited; the limit resets in 3601 s"):
        for page in make_source(sleeps, max_rate_limit_wait=600).pages(INTERVAL):
            yielded.append(page)

    assert [p.label for p in yielded] == ["page 1"]
    assert sleeps.calls == []


@responses.activate
def test_rate_limit_that_never_lifts_gives_up(sleeps):
    responses.get(SEARCH_URL, status=429, headers={"x-rate-limit-reset": str(int(NOW) + 5)})

    with pytest.raises(SourceUnavailable, match="still rate limited after 2 waits"):
        list(make_source(sleeps, max_rate_limit_retries=2).pages(INTERVAL))
    assert len(responses.calls) == 3 and len(sleeps.calls) == 2


@responses.activate
@pytest.mark.parametrize(("status", "expected"), [(401, "401 Unauthorized"), (403, "403 Forbidden")])
def test_auth_errors_name_the_connection_to_fix(status, expected, sleeps):
    responses.get(SEARCH_URL, status=status, json={"title": "Unauthorized", "detail": "nope"})

    with pytest.raises(ConfigurationError, match=expected) as raised:
        list(make_source(sleeps).pages(INTERVAL))
    assert "x_api_default" in str(raised.value)
    assert TOKEN not in str(raised.value)
    assert len(responses.calls) == 1  # no retry: a bad token stays bad


@responses.activate
def test_bad_request_is_rejected_without_retry(sleeps):
    responses.get(
        SEARCH_URL,
        status=400,
        json={"errors": [{"message": "Invalid 'query': bad operator"}], "title": "Invalid Request"},
    )
    with pytest.raises(SourceRequestRejected, match="Invalid 'query'"):
        list(make_source(sleeps).pages(INTERVAL))
    assert len(responses.calls) == 1


@responses.activate
def test_server_errors_and_timeouts_are_retried_with_backoff(recorded, sleeps):
    responses.get(SEARCH_URL, status=503, json={"title": "Service Unavailable"})
    responses.get(SEARCH_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    responses.get(SEARCH_URL, json=recorded | {"meta": {"result_count": 10}})

    pages = list(make_source(sleeps, backoff_seconds=2.0).pages(INTERVAL))

    assert len(pages) == 1 and len(pages[0].records) == 10
    assert sleeps.calls == [2.0, 4.0]


@responses.activate
@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500, "json": {"title": "Internal Error"}},
        {"body": requests.exceptions.ConnectTimeout("connect timed out")},
        {"body": "<html>gateway hiccup</html>", "status": 200},
    ],
    ids=["5xx", "timeout", "not-json"],
)
def test_persistent_failures_give_up_after_max_attempts(failure, sleeps):
    responses.get(SEARCH_URL, **failure)

    with pytest.raises(SourceUnavailable, match="failed 3 times in a row"):
        list(make_source(sleeps, max_attempts=3).pages(INTERVAL))
    assert len(responses.calls) == 3 and len(sleeps.calls) == 2


@responses.activate
def test_interval_beyond_recent_search_window_is_rejected_before_any_request(sleeps):
    old = Interval(datetime(2022, 9, 1, tzinfo=UTC), datetime(2022, 9, 1, 0, 10, tzinfo=UTC))
    with pytest.raises(SourceRequestRejected, match=r"more than 7 days ago.*source=replay"):
        list(make_source(sleeps).pages(old))
    assert len(responses.calls) == 0


@responses.activate
def test_waits_until_end_time_is_ten_seconds_old(sleeps):
    responses.get(SEARCH_URL, json={"meta": {"result_count": 0}})
    just_ended = Interval(datetime.fromtimestamp(NOW - 600, UTC), datetime.fromtimestamp(NOW - 3, UTC))
    list(make_source(sleeps).pages(just_ended))
    assert sleeps.calls == [pytest.approx(7.0)]


@responses.activate
def test_bearer_token_never_reaches_the_logs(recorded, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="tweepy.client")
    responses.get(SEARCH_URL, status=500)
    responses.get(SEARCH_URL, json=recorded | {"meta": {"result_count": 10}})

    list(make_source(sleeps).pages(INTERVAL))

    assert caplog.records  # the retry was logged...
    assert TOKEN not in caplog.text  # ...but tweepy's DEBUG dump of the headers was not


def test_arguments_are_validated():
    with pytest.raises(ConfigurationError, match="x_api_default"):
        XApiTweetSource("")
    with pytest.raises(ValueError, match="max_results"):
        XApiTweetSource(TOKEN, max_results=5)
    with pytest.raises(ValueError, match="max_pages"):
        XApiTweetSource(TOKEN, max_pages=0)
    with pytest.raises(ValueError, match="query"):
        XApiTweetSource(TOKEN, query=" ")
    assert not re.search(TOKEN, repr(XApiTweetSource(TOKEN)))


def test_hashtags_come_from_the_entities_x_returns(recorded):
    """X lists a post's hashtags in ``entities.hashtags`` (asked for through ``tweet.fields``)."""
    page = copy.deepcopy(recorded)
    first, second = page["data"][0], page["data"][1]
    first["entities"] = {
        "hashtags": [{"start": 0, "end": 4, "tag": "YVR"}, {"start": 5, "end": 10, "tag": "rain"}],
        "urls": [{"start": 11, "end": 30, "url": "https://t.co/x"}],
    }
    second["entities"] = {"mentions": [{"start": 0, "end": 5, "username": "someone"}]}

    records, _next = parse_search_page(page, "Vancouver", "page 1")

    by_id = {record.tweet_id: record for record in records.records}
    assert by_id[first["id"]].hashtags == frozenset({"yvr", "rain"})
    assert by_id[second["id"]].hashtags is None  # entities without hashtags: none
    assert all(by_id[item["id"]].hashtags is None for item in page["data"][2:])  # no entities at all
