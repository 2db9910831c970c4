"""Benchmark decoding Kafka values: the Python path against the msgspec shortcut, in µs a message.

Values come from the record classes' ``to_json`` (real tweet texts when the reference data is there);
a ``valid`` set (the shortcut's case) and an ``invalid`` one (the shortcut declines, so the attempt's
extra cost shows), each through ``decode_record_python`` and ``decode_record``. Prints the best of
``--repeat`` runs in this process's CPU time. No services needed::

    .venv/bin/python bench/decode_benchmark.py [--messages 20000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "plugins"))

from kafkapipeline.records import (  # noqa: E402 - after the path setup
    InvalidRecord,
    TweetRecord,
    WeatherRecord,
    decode_record,
    decode_record_python,
)

CITIES = ["London", "Paris", "Vancouver", "Tokyo", "Berlin", "Madrid", "Toronto", "Sydney"]
WORDS = "the a sun rain walk coffee park love hate grey happy bus city news friends 😀 ☔ é".split()  # noqa: SIM905


def reference_texts() -> list[str]:
    default = REPO_ROOT.parent / "shared" / "reference-data"
    seed = Path(os.environ.get("KAFKAPIPELINE_REFERENCE_DATA", default)) / "seed_tweets_vancouver_2021.csv"
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
    return [value.replace(field + b": ", field + b": 9999999999", 1) for value in values]


def best_us(decode: Callable[[Any, bytes], Any], record_type: Any, values: list[bytes], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.process_time()
        for value in values:
            with contextlib.suppress(InvalidRecord):
                decode(record_type, value)
        best = min(best, time.process_time() - began)
    return best / len(values) * 1e6


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
    sets = {
        "tweet": (TweetRecord, tweets, invalid(tweets, b'"like_count"')),
        "weather": (WeatherRecord, weather, invalid(weather, b'"pressure_hpa"')),
    }
    mean = sum(map(len, tweets)) / len(tweets)
    print(f"{args.messages} messages a set, best of {args.repeat}; tweets: {source}, {mean:.0f} bytes avg")
    print(f"{'kind':8} {'set':8} {'python µs':>10} {'fast µs':>9} {'speed-up':>9}")
    for kind, (record_type, valid_values, invalid_values) in sets.items():
        for label, values in (("valid", valid_values), ("invalid", invalid_values)):
            for value in values[:100]:  # both paths agree on the sample (the tests prove it in general)
                outcome = [None, None]
                for index, decode in enumerate((decode_record_python, decode_record)):
                    try:
                        outcome[index] = decode(record_type, value)
                    except InvalidRecord as err:
                        outcome[index] = str(err)
                assert outcome[0] == outcome[1], (kind, value)
            python = best_us(decode_record_python, record_type, values, args.repeat)
            fast = best_us(decode_record, record_type, values, args.repeat)
            print(f"{kind:8} {label:8} {python:10.2f} {fast:9.2f} {python / fast:8.1f}x")


if __name__ == "__main__":
    main()
