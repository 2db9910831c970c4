"""The built-in replay sources: realistic tweets and weather for any interval, offline.

They are the default when no API connection is configured, so the pipeline runs end to
end on a machine with no keys and no network. Everything they produce is deterministic:

* Weather is one observation per ``step`` (10 minutes by default), at times aligned to
  the epoch grid (``observed_at`` is a multiple of ``step``), with values from
  :mod:`kafkapipeline.sources.climate`, a pure function of (city, moment). Two runs
  whose intervals overlap produce identical records for the shared grid points.
* Tweets are generated per 10-minute bucket of the epoch grid, from a ``random.Random``
  seeded with (source name, city, bucket start, bucket end). A run yields the tweets of
  the buckets it touches that fall inside its interval, so three consecutive 10-minute
  runs produce exactly the tweets one 30-minute run would, and re-running an interval
  produces the same tweets with the same ids.
* Tweet ids are snowflake ids, like X's: ``((created_at_ms - 1288834974657) << 22) |
  (machine << 12) | sequence``, with ``machine`` derived from the city and ``sequence``
  the tweet's index in its bucket. They are unique, sort by time, and decode back to
  ``created_at`` the same way the X source decodes real ids.

The tweet texts come from templates and vocabulary written for this project: positive,
negative and neutral tweets about Vancouver life, some of them about the weather at the
time (taken from the same climate model, so tweets and weather agree).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from kafkapipeline.sources import climate
from kafkapipeline.sources.base import Interval, RecordSource, SourcePage, seeded_random, stable_int
from kafkapipeline.streams.tweets import TweetRecord, hashtags_in
from kafkapipeline.streams.weather import WeatherRecord

SOURCE_NAME = "replay"

#: X's snowflake epoch (2010-11-04T01:42:54.657Z) in milliseconds.
SNOWFLAKE_EPOCH_MS = 1288834974657

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TWEET_BUCKET = timedelta(minutes=10)


def snowflake_id(created_at: datetime, machine: int, sequence: int) -> int:
    """An X-style snowflake id for a tweet created at ``created_at``."""
    milliseconds = int((created_at - _EPOCH) // timedelta(milliseconds=1))
    if not 0 <= machine < 1024 or not 0 <= sequence < 4096:
        raise ValueError("machine must be in 0..1023 and sequence in 0..4095")
    return ((milliseconds - SNOWFLAKE_EPOCH_MS) << 22) | (machine << 12) | sequence


def snowflake_time(tweet_id: int) -> datetime:
    """When a snowflake id was minted: ``(id >> 22) + 1288834974657`` ms after the Unix epoch."""
    return _EPOCH + timedelta(milliseconds=(tweet_id >> 22) + SNOWFLAKE_EPOCH_MS)


def _grid_points(interval: Interval, step: timedelta) -> Iterator[datetime]:
    """Multiples of ``step`` (counted from the Unix epoch) inside the interval."""
    step_us = step // timedelta(microseconds=1)
    start_us = (interval.start - _EPOCH) // timedelta(microseconds=1)
    first = -(-start_us // step_us) * step_us  # ceiling to the grid
    moment = _EPOCH + timedelta(microseconds=first)
    while moment < interval.end:
        yield moment
        moment += step


class ReplayWeatherSource(RecordSource[WeatherRecord]):
    """Modelled weather observations for each city, one per ``step`` on the epoch grid.

    :param cities: cities to observe; names from the Metro Vancouver table get their own
        coordinates (sunrise/sunset), any other name is modelled as Vancouver
    :param step: time between observations; observations sit on multiples of it
    """

    name = SOURCE_NAME

    def __init__(self, cities: list[str], step: timedelta = timedelta(minutes=10)) -> None:
        if not cities:
            raise ValueError("at least one city is needed")
        if step <= timedelta(0) or timedelta(days=1) % step:
            raise ValueError(f"step must be positive and divide a day evenly, got {step}")
        self.cities = [city.strip() for city in cities]
        self.step = step

    def describe(self) -> str:
        return f"replay weather (built-in climate model, one observation every {self.step})"

    def observation(self, city: str, moment: datetime) -> WeatherRecord:
        place = climate.place_or_vancouver(city)
        conditions = climate.conditions_at(city, moment)
        sunrise, sunset = climate.sun_times(place, climate.local_solar_day(place, moment))
        jitter = seeded_random(self.name, "weather", place.name, moment.isoformat())
        return WeatherRecord(
            city=place.name,
            observed_at=moment,
            description=conditions.description,
            temperature_c=conditions.temperature_c,
            feels_like_c=conditions.feels_like_c,
            temp_min_c=round(conditions.temperature_c - jitter.uniform(0.3, 1.6), 2),
            temp_max_c=round(conditions.temperature_c + jitter.uniform(0.3, 1.6), 2),
            pressure_hpa=conditions.pressure_hpa,
            humidity_pct=conditions.humidity_pct,
            wind_speed_ms=conditions.wind_speed_ms,
            sunrise=sunrise,
            sunset=sunset,
            provider=self.name,
        )

    def pages(self, interval: Interval) -> Iterator[SourcePage[WeatherRecord]]:
        points = list(_grid_points(interval, self.step))
        for city in self.cities:
            yield SourcePage(label=city, records=[self.observation(city, moment) for moment in points])


# --- tweet vocabulary -------------------------------------------------------------------

PLACES = (
    "Stanley Park",
    "the Seawall",
    "English Bay",
    "Kits Beach",
    "Granville Island",
    "Gastown",
    "Commercial Drive",
    "Main Street",
    "Yaletown",
    "Jericho Beach",
    "Queen Elizabeth Park",
    "Lynn Canyon",
    "Grouse Mountain",
    "Coal Harbour",
    "Chinatown",
    "Mount Pleasant",
    "Spanish Banks",
    "Robson Street",
    "Olympic Village",
    "False Creek",
    "Deep Cove",
    "Trout Lake",
    "Canada Place",
    "Davie Village",
    "Kitsilano",
    "UBC",
    "Lonsdale Quay",
    "Steveston",
    "Metrotown",
    "Brentwood",
)
WATERFRONT = ("English Bay", "Kits Beach", "Jericho Beach", "Spanish Banks", "Coal Harbour", "Deep Cove")
NEIGHBOURHOODS = (
    "Kitsilano",
    "Mount Pleasant",
    "the West End",
    "Strathcona",
    "Fairview",
    "Hastings-Sunrise",
    "Kerrisdale",
    "Marpole",
    "Grandview",
    "Riley Park",
)
CROSSINGS = (
    "the Lions Gate Bridge",
    "the Ironworkers",
    "the Pattullo",
    "the Burrard Bridge",
    "the Massey Tunnel",
)
TRANSIT = ("the 99 B-Line", "the Expo Line", "the Canada Line", "the Millennium Line", "the SeaBus", "the R4")
FOODS = ("ramen", "dim sum", "sushi", "pho", "tacos", "poutine", "banh mi", "croissant", "pizza", "JapaDog")
EVENTS = ("the night market", "a farmers market", "a free concert", "the fireworks", "a food truck festival")
DAYPARTS = {
    range(5, 12): "morning",
    range(12, 17): "afternoon",
    range(17, 22): "evening",
}
HASHTAGS = ("#Vancouver", "#yvr", "#VancouverBC", "#vancity", "#BC", "#PNW")
POSITIVE_EMOJI = ("🙌", "😍", "☀️", "💙", "🌲", "✨", "😊")
NEGATIVE_EMOJI = ("😩", "🙄", "😤", "😞", "💸")

#: What a post says about the weather, per weather category and sentiment.
WEATHER_MENTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "sun": {
        "positive": (
            "Sun is out and the mountains are glowing!",
            "Blue sky over the North Shore, what a gift.",
            "Gorgeous sunshine today, everyone is smiling.",
        ),
        "negative": (
            "Sunny but somehow still freezing, not fair.",
            "Way too bright and the glare on the windshield is awful.",
        ),
        "neutral": ("Clear skies over downtown right now.", "Sunny out there at the moment."),
    },
    "cloud": {
        "positive": (
            "Grey skies but honestly it's cozy and calm.",
            "Cloudy and mild, perfect walking weather.",
        ),
        "negative": (
            "Another grey, gloomy day. Miss the sun so much.",
            "Overcast again. This city is depressing in the clouds.",
        ),
        "neutral": ("Pretty cloudy over the city right now.", "Clouds rolling in off the water."),
    },
    "rain": {
        "positive": (
            "Love the sound of rain on the roof, perfect reading day.",
            "Rainy day, hot tea, good book. Happy.",
        ),
        "negative": (
            "Rain. Again. Soaked through on the walk to work, terrible.",
            "My umbrella broke in this miserable rain. Hate it.",
            "Pouring rain and the bus was late. Awful commute.",
        ),
        "neutral": ("Raining downtown right now, bring a jacket.", "Wet roads out there this hour."),
    },
    "snow": {
        "positive": (
            "Snow on the trees in the park, it's beautiful!",
            "Snow day! The city looks magical.",
        ),
        "negative": (
            "A little snow and the whole city shuts down. Ridiculous.",
            "Slipped on the icy sidewalk, this snow is the worst.",
        ),
        "neutral": ("It's snowing in the city right now.", "Snow flurries over the Lower Mainland."),
    },
    "fog": {
        "positive": ("The fog over False Creek is so beautiful this morning.",),
        "negative": ("Can't see a thing in this fog, driving is scary.",),
        "neutral": ("Foggy out there, foghorns going off at the harbour.",),
    },
}

TEMPLATES = {
    "positive": (
        "What a great {daypart} at {place}! {weather}",
        "Coffee in hand, walking through {place}. Honestly love this city {emoji}",
        "{weather} Perfect excuse for a run along the Seawall.",
        "Best {food} I've had in ages, right near {place}. Highly recommend!",
        "Shoutout to the driver on {transit} who waited for me. Small kindness, big smile.",
        "Caught the sunset from {place} tonight, absolutely stunning {emoji}",
        "So happy I moved to {neighbourhood}. Friendly neighbours and amazing food.",
        "Free {event} at {place} was fantastic, thanks Vancouver!",
        "{minutes} minutes on the bike from {neighbourhood} to {place} and I'm smiling the whole way.",
        "Found the cutest little {food} spot near {place}. My new favourite {emoji}",
        "{weather} Love living here.",
        "Seals spotted off {waterfront}! Best {daypart} ever.",
        "The view from {place} never gets old. Grateful {emoji}",
    ),
    "negative": (
        "{weather} And of course {transit} is delayed again. Great start to the {daypart}.",
        "Rent in {neighbourhood} is out of control. How is anyone supposed to live here? {emoji}",
        "Stuck on {crossing} for {minutes} minutes. Traffic in this city is a nightmare.",
        "{weather} {emoji}",
        "Paid ${price} for a {food} near {place}... Vancouver prices are ridiculous.",
        "Lost my wallet somewhere around {place}. Worst {daypart} ever.",
        "Construction noise in {neighbourhood} since {hour}am. So annoying.",
        "Waited {minutes} minutes for {transit}. Terrible service, again.",
        "{weather} Why do I even live here {emoji}",
        "Someone stole my bike near {place}. Furious.",
        "Three condo towers going up in {neighbourhood} and not one affordable unit. Sad.",
    ),
    "neutral": (
        "Heading to {place} this {daypart}. Anyone know if the parking lot is open?",
        "{weather}",
        "Reminder: {event} at {place} this weekend.",
        "Does anyone know when {transit} goes back to the regular schedule?",
        "Moved to {neighbourhood} last month, still figuring out the bus routes.",
        "Currently {temperature}°C in Vancouver with {description}.",
        "Looking for {food} recommendations near {place}.",
        "{weather} Meeting friends at {place} at {hour}.",
        "Is {place} busy right now? Thinking of going this {daypart}.",
        "{transit} to {place}, then walking to {neighbourhood}.",
        "Anyone selling tickets for {event} at {place}?",
    ),
}
#: Ways people start and end tweets; mixed in to keep texts as varied as real ones.
OPENERS = ("", "", "", "Honestly, ", "Ok so ", "PSA: ", "Update: ", "lol ", "Not gonna lie, ", "Day {day}: ")
CLOSERS = ("", "", "", " 😅", " #nofilter", " (again)", " Thoughts?", " Just saying.", " 📍{place}")


def _daypart(local_hour: int) -> str:
    for hours, name in DAYPARTS.items():
        if local_hour in hours:
            return name
    return "night"


class ReplayTweetSource(RecordSource[TweetRecord]):
    """Generated tweets about ``city``, about ``tweets_per_10_minutes`` on average.

    Activity follows the day (quiet at night, busiest in the afternoon) and sentiment
    follows the modelled weather a little (sunny hours are happier, rainy ones grumpier).

    :param city: the city tweets are attributed to (``TweetRecord.city``)
    :param tweets_per_10_minutes: average tweet rate; 0 produces no tweets
    """

    name = SOURCE_NAME

    def __init__(self, city: str = "Vancouver", tweets_per_10_minutes: int = 10) -> None:
        if not city or not city.strip():
            raise ValueError("city must not be empty")
        if tweets_per_10_minutes < 0 or tweets_per_10_minutes > 1000:
            raise ValueError(f"tweets_per_10_minutes must be in 0..1000, got {tweets_per_10_minutes}")
        self.city = city.strip()
        self.tweets_per_10_minutes = tweets_per_10_minutes
        self._place = climate.place_or_vancouver(self.city)
        self._machine = stable_int(self.name, "machine", self.city, bits=10)

    def describe(self) -> str:
        return f"replay tweets for {self.city} (~{self.tweets_per_10_minutes} per 10 minutes)"

    def _bucket_tweets(self, bucket_start: datetime) -> list[TweetRecord]:
        bucket_end = bucket_start + TWEET_BUCKET
        rng = seeded_random(self.name, "tweets", self.city, bucket_start.isoformat(), bucket_end.isoformat())
        local_hour = (bucket_start + timedelta(hours=self._place.longitude / 15.0)).hour
        activity = 1.0 - 0.6 * math.cos(2 * math.pi * (local_hour - 4) / 24)
        trials = round(2 * self.tweets_per_10_minutes * activity)
        count = sum(rng.random() < 0.5 for _ in range(trials))
        bucket_ms = TWEET_BUCKET // timedelta(milliseconds=1)
        offsets = sorted(rng.randrange(bucket_ms) for _ in range(count))
        return [
            self._tweet(rng, bucket_start + timedelta(milliseconds=offset), sequence)
            for sequence, offset in enumerate(offsets)
        ]

    def _tweet(self, rng: random.Random, created_at: datetime, sequence: int) -> TweetRecord:
        conditions = climate.conditions_at(self.city, created_at)
        category = conditions.category
        positive = 0.30 + (0.15 if category == "sun" else 0.0) - (0.08 if category == "rain" else 0.0)
        negative = (
            0.22 + (0.15 if category in ("rain", "snow") else 0.0) - (0.07 if category == "sun" else 0.0)
        )
        draw = rng.random()
        sentiment = "positive" if draw < positive else "negative" if draw < positive + negative else "neutral"
        local_hour = (created_at + timedelta(hours=self._place.longitude / 15.0)).hour
        values = {
            "daypart": _daypart(local_hour),
            "place": rng.choice(PLACES),
            "waterfront": rng.choice(WATERFRONT),
            "neighbourhood": rng.choice(NEIGHBOURHOODS),
            "crossing": rng.choice(CROSSINGS),
            "transit": rng.choice(TRANSIT),
            "food": rng.choice(FOODS),
            "event": rng.choice(EVENTS),
            "emoji": rng.choice(POSITIVE_EMOJI if sentiment == "positive" else NEGATIVE_EMOJI),
            "weather": rng.choice(WEATHER_MENTIONS[category][sentiment]),
            "temperature": f"{conditions.temperature_c:.0f}",
            "description": conditions.description,
            "minutes": rng.choice((10, 15, 20, 25, 30, 40, 45, 50, 60)),
            "price": rng.choice((7, 8, 9, 11, 12, 14, 18, 22)),
            "hour": rng.randint(6, 11),
            "day": rng.randint(2, 40),
        }
        opener = rng.choice(OPENERS).format(**values)
        body = rng.choice(TEMPLATES[sentiment]).format(**values)
        if opener and not opener.endswith(": ") and not body.startswith("I"):
            body = body[0].lower() + body[1:]  # "Honestly, sun is out" reads like a person wrote it
        text = opener + body + rng.choice(CLOSERS).format(**values)
        if rng.random() < 0.3:
            text = f"{text} {rng.choice(HASHTAGS)}"
        tweet_id = snowflake_id(created_at, self._machine, sequence)
        has_place = rng.random() < 0.15
        return TweetRecord(
            tweet_id=str(tweet_id),
            text=text,
            created_at=created_at,
            city=self.city,
            lang="en",
            author_id=str(stable_int(self.name, "author", self.city, rng.randrange(800), bits=60)),
            retweet_count=min(int(rng.paretovariate(2.0)) - 1, 500),
            reply_count=min(int(rng.paretovariate(2.2)) - 1, 200),
            like_count=min(int(rng.paretovariate(1.3)) - 1, 5000),
            quote_count=min(int(rng.paretovariate(3.0)) - 1, 50),
            place_id=f"{stable_int('place', values['place'], bits=64):016x}" if has_place else None,
            source=self.name,
            hashtags=hashtags_in(text) or None,
        )

    def pages(self, interval: Interval) -> Iterator[SourcePage[TweetRecord]]:
        """One page per 10-minute bucket the interval touches, holding the tweets inside the interval."""
        bucket_us = TWEET_BUCKET // timedelta(microseconds=1)
        start_us = (interval.start - _EPOCH) // timedelta(microseconds=1)
        bucket_start = _EPOCH + timedelta(microseconds=(start_us // bucket_us) * bucket_us)
        while bucket_start < interval.end:
            tweets = [t for t in self._bucket_tweets(bucket_start) if interval.contains(t.created_at)]
            yield SourcePage(label=f"bucket {bucket_start.isoformat()}", records=tweets)
            bucket_start += TWEET_BUCKET
