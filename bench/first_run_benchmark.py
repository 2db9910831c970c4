"""First run: how long until a new install's dashboard holds a full day of tweets and weather.

Starts the run command on a new AIRFLOW_HOME (services from ``scripts/services`` up) with the first-run
backfill of the last ``--hours``, polls Cassandra until each of those hours holds tweets and weather as
the dashboard reads them, and prints the seconds to the run's summary and to a full day::

    .venv/bin/python bench/first_run_benchmark.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # devtools

from devtools.devstack import local_stack, tail
from kafkapipeline.airflow_api import wait_for

DAGS = "ingest_weather ingest_tweets drain_weather drain_tweets"


def hours_with_rows(session, keyspace: str, table: str, column: str, hours: list[datetime]) -> set:
    found: set = set()
    for day in sorted({hour.date() for hour in hours}):
        rows = session.execute(
            f"SELECT {column} FROM {keyspace}.{table} WHERE city = %s AND day = %s", ("Vancouver", day)
        )
        found |= {row[0].replace(tzinfo=UTC, minute=0, second=0, microsecond=0) for row in rows}
    return found & set(hours)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hours", type=int, default=24, help="hours the first run backfills (default 24)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the full day")
    args = parser.parse_args(argv)

    from kafkapipeline.cassandra.session import cassandra_session

    extra = {"PIPELINE_DAGS": DAGS, "KAFKAPIPELINE_FIRST_RUN_BACKFILL_HOURS": str(args.hours)}
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="bench-first-run-") as home,
        local_stack(Path(home), extra) as stack,
        cassandra_session() as session,
    ):
        up = time.monotonic() - started
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        hours = [now - timedelta(hours=n) for n in range(1, args.hours + 1)]
        try:

            def full_day() -> bool:
                tweets = hours_with_rows(session, stack.keyspace, "tweets", "created_at", hours)
                weather = hours_with_rows(session, stack.keyspace, "weather_reports", "observed_at", hours)
                return len(tweets) == len(hours) and len(weather) == len(hours)

            wait_for(f"{args.hours} full hours of tweets and weather", full_day, args.timeout, interval=10)
            done = time.monotonic() - started
        except Exception:
            print(tail(stack.log), file=sys.stderr)
            raise
        finally:
            session.execute(f"DROP KEYSPACE IF EXISTS {stack.keyspace}", timeout=120)
    print()
    print(f"run command to its summary        {up:7.0f} s")
    print(f"run command to {args.hours} full hours       {done:7.0f} s ({done / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
