"""Benchmark what a 14-day dashboard read costs the api-server's event loop: on a thread or in a process.

A read here is the dashboard's own CPU work on synthetic rows, as much as the load test's 14-day range
(60 tweets and two weather reports an hour: some 20,000 rows): building the rows as the driver's
decoder does (one named tuple a row), the aggregation of ``kafkapipeline.dashboard.aggregation`` and
the response's JSON. No Cassandra: the I/O is left out, the part that holds the GIL is in.

While ``--concurrency`` such reads run back to back for ``--seconds``, an asyncio loop in this process
(standing in for the api-server's) wakes every 10 ms and records how late it woke, and a thread (standing
in for a synchronous Airflow route such as ``/api/v2/monitor/health``) does a few hundred microseconds
of Python every 10 ms and records how long after its 10 ms it was done (waiting for the GIL to wake
included). Three modes:

* ``idle``    - no read: the floor of this host;
* ``thread``  - the reads on a thread pool of this process (the dashboard before its worker processes);
* ``process`` - the reads in the dashboard's own :class:`~kafkapipeline.dashboard.admission.ReadPool`
  worker processes (forkserver, lower priority), this process awaiting their futures.

Usage (no services needed)::

    .venv/bin/python bench/dashboard_loop_latency.py [--seconds 8] [--concurrency 1 4]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from collections import namedtuple
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "plugins"))

from kafkapipeline.dashboard.admission import ReadPool, result_of  # noqa: E402 - after the path setup
from kafkapipeline.dashboard.aggregation import sentiment_against_weather  # noqa: E402
from kafkapipeline.dashboard.bounds import MAX_RANGE_DAYS, CappedRows, TimeRange  # noqa: E402

TWEETS_PER_HOUR = 60
WEATHER_PER_HOUR = 2
TICK_SECONDS = 0.01
END = datetime(2026, 3, 15, tzinfo=UTC)
RANGE = TimeRange(END - timedelta(days=MAX_RANGE_DAYS), END)

Tweet = namedtuple(
    "Tweet",
    "created_at sentiment_score sentiment_label sentiment_model sentiment_model_version hashtags",
)
Weather = namedtuple("Weather", "observed_at temperature_c description")
LABELS = ((0.6, "Positive"), (-0.4, "Negative"), (0.0, "Neutral"))


def raw_rows() -> tuple[list[tuple], list[tuple]]:
    """The values of the 14-day range's rows, as a read's pages carry them."""
    tweets, weather = [], []
    for hour in RANGE.hours():
        for index in range(TWEETS_PER_HOUR):
            score, label = LABELS[index % 3]
            tags = frozenset({"yvr"}) if index % 4 == 0 else None
            tweets.append((hour + timedelta(seconds=59 * index), score, label, "vader", "3.3.2", tags))
        for minute in (10, 40)[:WEATHER_PER_HOUR]:
            weather.append((hour + timedelta(minutes=minute), 4.0 + hour.hour / 6, "light rain"))
    return tweets, weather


RAW = raw_rows()


def one_read() -> bytes:
    """A 14-day read's CPU: rows as the driver builds them, the aggregation, the JSON."""
    raw_tweets, raw_weather = RAW
    tweets = CappedRows([Tweet(*values) for values in raw_tweets])
    weather = CappedRows([Weather(*values) for values in raw_weather])
    response = sentiment_against_weather("Vancouver", tweets, weather, RANGE, keyspace="kafkapipeline")
    return response.model_dump_json().encode()


class Probes:
    """The loop's lateness and the synchronous route's duration, while a block of reads runs."""

    def __init__(self) -> None:
        self.loop_late: list[float] = []
        self.route: list[float] = []
        self._stop = threading.Event()

    async def loop_probe(self, until: float) -> None:
        while time.perf_counter() < until:
            asked = time.perf_counter()
            await asyncio.sleep(TICK_SECONDS)
            self.loop_late.append(time.perf_counter() - asked - TICK_SECONDS)

    def route_probe(self) -> None:
        while True:
            asked = time.perf_counter()
            if self._stop.wait(TICK_SECONDS):
                return
            sum(len(str(number)) for number in range(2_000))  # a small route's worth of Python
            self.route.append(time.perf_counter() - asked - TICK_SECONDS)

    def stop(self) -> None:
        self._stop.set()


async def run_mode(submit, concurrency: int, seconds: float) -> tuple[Probes, list[float]]:
    """``concurrency`` clients reading back to back through ``submit`` for ``seconds``, under the probes."""
    probes = Probes()
    route = threading.Thread(target=probes.route_probe, daemon=True)
    route.start()
    until = time.perf_counter() + seconds
    reads: list[float] = []

    async def client() -> None:
        while time.perf_counter() < until:
            started = time.perf_counter()
            body = await result_of(submit())
            assert body.startswith(b'{"city":"Vancouver"')
            reads.append(time.perf_counter() - started)

    clients = [client() for _ in range(concurrency if submit else 0)]
    await asyncio.gather(probes.loop_probe(until), *clients)
    probes.stop()
    route.join()
    return probes, reads


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def report(mode: str, concurrency: int, probes: Probes, reads: list[float]) -> None:
    late, route = [1000 * value for value in probes.loop_late], [1000 * value for value in probes.route]
    read = f"{len(reads):4d} reads, {statistics.fmean(reads):5.2f} s each" if reads else "      no reads"
    print(
        f"{mode:<8} x{concurrency}  {read}   loop late ms p50 {percentile(late, 0.5):6.2f}  "
        f"p99 {percentile(late, 0.99):7.2f}  max {max(late):7.2f}   "
        f"route ms p50 {percentile(route, 0.5):6.2f}  p99 {percentile(route, 0.99):7.2f}  "
        f"max {max(route):7.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds each mode runs")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4], help="reads at once")
    args = parser.parse_args()

    rows = len(RAW[0]) + len(RAW[1])
    started = time.perf_counter()
    one_read()
    print(f"one read: {rows:,} rows, {time.perf_counter() - started:.3f} s of CPU here (idle)")

    report("idle", 0, *asyncio.run(run_mode(None, 0, args.seconds)))
    for concurrency in args.concurrency:
        measure(concurrency, args.seconds)


def measure(concurrency: int, seconds: float) -> None:
    """The thread mode, then the process mode, ``concurrency`` reads at once."""
    threads: Executor = ThreadPoolExecutor(concurrency)
    try:
        report(
            "thread",
            concurrency,
            *asyncio.run(run_mode(lambda: threads.submit(one_read), concurrency, seconds)),
        )
    finally:
        threads.shutdown()
    pool = ReadPool(lambda: concurrency)
    try:
        warm: list[Future[bytes]] = [pool.submit(one_read) for _ in range(concurrency)]
        for future in warm:  # the workers started: their start is not what is measured
            future.result(120)
        report(
            "process",
            concurrency,
            *asyncio.run(run_mode(lambda: pool.submit(one_read), concurrency, seconds)),
        )
    finally:
        pool.close()


if __name__ == "__main__":
    main()
