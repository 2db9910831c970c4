"""Benchmark the drain's per-message CPU before the writer: decoding a Kafka value, building its row.

Values are built with the record types' own ``to_json`` (what the ingest produces). Tweet texts
are the real tweets of the shared reference data, cycled, when it is there; without it they are
made-up texts of real-tweet length (up to 280 characters). Two sets per stream:

* ``valid``    - every value valid: the drain's common case;
* ``invalid``  - every value refused (an int32 overflow): the cost of wording the reason.

Columns: ``decode`` (the stream's msgspec decoder, as the drain calls it, plus the reason for a
refused value) and ``row`` (the row tuple from the record: the builder generated from the table's
columns; a tweet's sentiment is given, so the model's scoring is not in the figure).

Usage (no services needed)::

    .venv/bin/python bench/decode_benchmark.py [--messages 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "plugins"))

from kafkapipeline.sentiment.vader import Sentiment  # noqa: E402 - after the path setup
from kafkapipeline.streams.base import Record, reason_for, record_decoder  # noqa: E402
from kafkapipeline.streams.tweets import TweetRecord, tweet_row  # noqa: E402
from kafkapipeline.streams.weather import WeatherRecord, weather_row  # noqa: E402

CITIES = ["London", "Paris", "Vancouver", "Tokyo", "Berlin", "Madrid", "Toronto", "Sydney"]
WORDS = "the a sun rain walk coffee park love hate grey happy bus city news friends 😀 ☔ é".split()  # noqa: SIM905


def reference_texts() -> list[str]:
    from kafkapipeline.sentiment.model.evaluation import reference_data_dir

    seed = reference_data_dir() / "seed_tweets_vancouver_2021.csv"
    if not seed.is_file():
        return []
    with seed.open(encoding="utf-8", newline="") as handle:
        return [row[0] for row in csv.reader(handle) if row and row[0].strip()]


def tweet_values(count: int, rng: random.Random) -> tuple[list[bytes], str]:
    real = reference_texts()
    start = datetime(2024, 5, 1, tzinfo=UTC)
    values = []
    for i in range(count):
        if real:
            text = real[i % len(real)]
        else:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 50)))[:280]
        record = TweetRecord(
            tweet_id=str(1_700_000_000_000_000_000 + i),
            text=text,
            created_at=start + timedelta(seconds=i, microseconds=rng.randint(0, 999_999)),
            city=CITIES[i % len(CITIES)],
            lang="en",
            author_id=str(rng.randint(10**6, 10**12)),
            retweet_count=rng.randint(0, 500),
            reply_count=rng.randint(0, 50),
            like_count=rng.randint(0, 5_000),
            quote_count=rng.randint(0, 20),
            place_id=f"{rng.getrandbits(64):016x}",
            source="x_api",
        )
        values.append(record.to_json())
    return values, "real reference tweets" if real else "made-up texts of tweet length"


def weather_values(count: int, rng: random.Random) -> list[bytes]:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    values = []
    for i in range(count):
        observed = start + timedelta(minutes=10 * i)
        record = WeatherRecord(
            city=CITIES[i % len(CITIES)],
            observed_at=observed,
            description=rng.choice(["broken clouds", "light intensity drizzle", "clear sky"]),
            temperature_c=round(rng.uniform(-20, 35), 2),
            feels_like_c=round(rng.uniform(-25, 35), 2),
            temp_min_c=round(rng.uniform(-25, 30), 2),
            temp_max_c=round(rng.uniform(-15, 40), 2),
            pressure_hpa=rng.randint(970, 1040),
            humidity_pct=rng.randint(10, 100),
            wind_speed_ms=round(rng.uniform(0, 20), 2),
            sunrise=observed.replace(hour=5, minute=12),
            sunset=observed.replace(hour=20, minute=48),
            provider="openweathermap",
        )
        values.append(record.to_json())
    return values


def invalid(values: list[bytes], field: bytes) -> list[bytes]:
    """The same values with one count beyond Cassandra's int: refused by both paths."""
    return [value.replace(field + b":", field + b":9999999999", 1) for value in values]


def decode_us(record_type: type[Record], values: list[bytes], repeat: int) -> float:
    """What the drain spends a message deciding record or reason (``drain.batch.MicroBatch._rows_of``)."""
    decode = record_decoder(record_type).decode
    best = float("inf")
    for _ in range(repeat):
        began = time.process_time()
        for value in values:
            try:
                decode(value)
            except Exception as err:
                reason_for(record_type, value, err)
        best = min(best, time.process_time() - began)
    return best / len(values) * 1e6


def row_us(to_row: Callable[[Any], tuple[Any, ...]], records: list[Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.process_time()
        for record in records:
            to_row(record)
        best = min(best, time.process_time() - began)
    return best / len(records) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(7)
    tweets, source = tweet_values(args.messages, rng)
    weather = weather_values(args.messages, rng)
    now = datetime.now(UTC)
    sentiment, model = Sentiment(0.5, "Positive"), ("model", "1")
    rows: dict[str, Callable[[Any], tuple[Any, ...]]] = {
        "tweet": lambda record: tweet_row(record, now, sentiment=sentiment, model=model),
        "weather": lambda record: weather_row(record, now),
    }
    sets = {
        "tweet": (TweetRecord, tweets, invalid(tweets, b'"like_count"')),
        "weather": (WeatherRecord, weather, invalid(weather, b'"pressure_hpa"')),
    }
    mean = sum(map(len, tweets)) / len(tweets)
    print(f"{args.messages} messages a set, best of {args.repeat}; tweets: {source}, {mean:.0f} bytes avg")
    print(f"{'stream':8} {'set':8} {'decode µs':>10} {'row µs':>8}")
    for kind, (record_type, valid_values, invalid_values) in sets.items():
        records = [record_type.from_json(value) for value in valid_values]
        built = row_us(rows[kind], records, args.repeat)
        for label, values in (("valid", valid_values), ("invalid", invalid_values)):
            decode = decode_us(record_type, values, args.repeat)
            print(f"{kind:8} {label:8} {decode:10.2f} {built if label == 'valid' else float('nan'):8.2f}")


if __name__ == "__main__":
    main()
