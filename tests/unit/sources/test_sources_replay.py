"""The built-in replay sources: deterministic, grid-aligned, and realistic enough to analyse."""

from __future__ import annotations

import statistics
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from kafkapipeline.sources.base import Interval
from kafkapipeline.sources.replay import (
    ReplayTweetSource,
    ReplayWeatherSource,
    snowflake_id,
    snowflake_time,
)

T0 = datetime(2026, 3, 14, 18, 0, tzinfo=UTC)


def interval(start_minutes: int, end_minutes: int, base: datetime = T0) -> Interval:
    return Interval(base + timedelta(minutes=start_minutes), base + timedelta(minutes=end_minutes))


def test_same_interval_gives_identical_records_from_fresh_sources():
    for make in (
        lambda: ReplayTweetSource("Vancouver"),
        lambda: ReplayWeatherSource(["Vancouver", "Surrey"]),
    ):
        first, second = make().records(interval(0, 30)), make().records(interval(0, 30))
        assert first and first == second
        assert [r.to_json() for r in first] == [r.to_json() for r in second]


def test_determinism_does_not_depend_on_the_process_hash_seed():
    script = (
        "from datetime import datetime, UTC\n"
        "from kafkapipeline.sources.base import Interval\n"
        "from kafkapipeline.sources.replay import ReplayTweetSource\n"
        "iv = Interval(datetime(2026, 3, 14, 18, tzinfo=UTC), datetime(2026, 3, 14, 18, 30, tzinfo=UTC))\n"
        "print([r.tweet_id + r.text for r in ReplayTweetSource().records(iv)])\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": ":".join(sys.path)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_different_intervals_give_different_records():
    source = ReplayTweetSource()
    first, later = source.records(interval(0, 10)), source.records(interval(10, 20))
    assert first and later
    assert {r.tweet_id for r in first}.isdisjoint(r.tweet_id for r in later)
    other_day = source.records(interval(0, 10, base=T0 + timedelta(days=1)))
    assert [r.text for r in other_day] != [r.text for r in first]


@pytest.mark.parametrize("make", [ReplayTweetSource, lambda: ReplayWeatherSource(["Vancouver"])])
def test_consecutive_intervals_add_up_to_the_whole_range(make):
    whole = make().records(interval(0, 30))
    pieces = [r for start in (0, 10, 20) for r in make().records(interval(start, start + 10))]
    assert sorted(pieces, key=lambda r: r.to_json()) == sorted(whole, key=lambda r: r.to_json())


@pytest.mark.parametrize("make", [ReplayTweetSource, lambda: ReplayWeatherSource(["Vancouver"])])
def test_overlapping_intervals_agree_on_the_overlap(make):
    """Runs on unaligned, overlapping intervals produce identical records (keys and timestamps)."""
    overlap = Interval(T0 + timedelta(minutes=17), T0 + timedelta(minutes=33))

    def inside(records):
        return [r for r in records if overlap.contains(getattr(r, "created_at", None) or r.observed_at)]

    first = inside(make().records(interval(3, 33)))
    second = inside(make().records(interval(17, 52)))
    assert first and first == second


def test_weather_observations_sit_on_the_grid():
    source = ReplayWeatherSource(["Vancouver", "Burnaby"], step=timedelta(minutes=10))
    records = source.records(Interval(T0 + timedelta(minutes=3), T0 + timedelta(minutes=41)))

    times = sorted({r.observed_at for r in records})
    assert times == [T0 + timedelta(minutes=m) for m in (10, 20, 30, 40)]
    assert sorted({r.city for r in records}) == ["Burnaby", "Vancouver"]
    assert all(r.provider == "replay" for r in records)
    assert len(ReplayWeatherSource(["Vancouver"], step=timedelta(minutes=5)).records(interval(0, 30))) == 6
    with pytest.raises(ValueError, match="divide a day"):
        ReplayWeatherSource(["Vancouver"], step=timedelta(minutes=7))


def test_tweet_ids_are_snowflakes_of_their_creation_time():
    records = ReplayTweetSource().records(interval(0, 60))
    assert len({r.tweet_id for r in records}) == len(records)
    for record in records:
        assert snowflake_time(int(record.tweet_id)) == record.created_at
        assert interval(0, 60).contains(record.created_at)
        assert record.source == "replay" and record.lang == "en" and record.city == "Vancouver"
    ids = [int(r.tweet_id) for r in records]
    assert ids == sorted(ids)  # time-ordered, like real ids
    assert snowflake_time(snowflake_id(T0, machine=5, sequence=7)) == T0


def test_tweet_rate_follows_the_setting_and_the_time_of_day():
    day = Interval(
        datetime(2026, 5, 1, 8, 0, tzinfo=UTC), datetime(2026, 5, 2, 8, 0, tzinfo=UTC)
    )  # 00:00 PDT
    tweets = ReplayTweetSource(tweets_per_10_minutes=12).records(day)
    per_10_minutes = len(tweets) / 144
    assert 10 <= per_10_minutes <= 14

    def local_hour(record):
        return (record.created_at - timedelta(hours=8)).hour

    night = sum(1 for t in tweets if 1 <= local_hour(t) < 6)
    afternoon = sum(1 for t in tweets if 13 <= local_hour(t) < 18)
    assert afternoon > 2 * night
    assert ReplayTweetSource(tweets_per_10_minutes=0).records(day) == []


def test_tweets_are_varied_and_carry_every_sentiment():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    tweets = ReplayTweetSource(tweets_per_10_minutes=20).records(
        Interval(datetime(2026, 6, 1, 16, tzinfo=UTC), datetime(2026, 6, 2, 4, tzinfo=UTC))
    )
    assert len({t.text for t in tweets}) > 0.8 * len(tweets)
    analyzer = SentimentIntensityAnalyzer()
    scores = [analyzer.polarity_scores(t.text)["compound"] for t in tweets]
    positive = sum(s >= 0.05 for s in scores) / len(scores)
    negative = sum(s <= -0.05 for s in scores) / len(scores)
    neutral = 1 - positive - negative
    assert min(positive, negative, neutral) > 0.1, (positive, negative, neutral)
    assert sum(1 for t in tweets if t.like_count and t.like_count > 5) > 0  # some tweets get traction


def test_weather_is_vancouver_like():
    source = ReplayWeatherSource(["Vancouver"], step=timedelta(hours=1))
    january = source.records(Interval(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)))
    july = source.records(Interval(datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC)))

    january_mean = statistics.mean(r.temperature_c for r in january)
    july_mean = statistics.mean(r.temperature_c for r in july)
    assert 1 <= january_mean <= 7 and 15 <= july_mean <= 21

    # Afternoons (15:00 PST = 23:00 UTC) are warmer than early mornings (05:00 PST = 13:00 UTC).
    afternoons = statistics.mean(r.temperature_c for r in july if r.observed_at.hour == 23)
    mornings = statistics.mean(r.temperature_c for r in july if r.observed_at.hour == 13)
    assert afternoons > mornings + 3

    def rainy(records):
        return sum("rain" in r.description or "snow" in r.description for r in records) / len(records)

    assert rainy(january) > 2 * rainy(july)
    for record in january + july:
        assert record.temp_min_c <= record.temperature_c <= record.temp_max_c
        assert record.sunrise < record.sunset
        assert 900 <= record.pressure_hpa <= 1060 and 0 <= record.humidity_pct <= 100
    # Winter days are short, summer days long.
    assert january[0].sunset - january[0].sunrise < timedelta(hours=9)
    assert july[0].sunset - july[0].sunrise > timedelta(hours=15)


def test_arguments_are_validated():
    with pytest.raises(ValueError, match="before its end"):
        Interval(T0, T0)
    with pytest.raises(ValueError, match="at least one city"):
        ReplayWeatherSource([])
    with pytest.raises(ValueError, match="tweets_per_10_minutes"):
        ReplayTweetSource(tweets_per_10_minutes=-1)


def test_replayed_posts_carry_the_hashtags_their_text_shows():
    records = ReplayTweetSource("Vancouver").records(interval(0, 240))
    tagged = [r for r in records if "#" in r.text]
    assert tagged and len(tagged) < len(records)  # some posts end with a hashtag, most do not
    for record in records:
        shown = {word.lstrip("#").lower() for word in record.text.split() if word.startswith("#")}
        assert record.hashtags == (frozenset(shown) or None), record.text
