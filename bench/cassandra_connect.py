"""Benchmark what opening a task's Cassandra session costs, with and without the driver's schema metadata.

Every drain task opens one session (:func:`kafkapipeline.cassandra.session.cassandra_session`); the
drain opens it with ``schema_metadata=False``. This opens sessions on ``cassandra_default`` in
alternating pairs and prints, per mode, the medians of: seconds to a first answered statement, this
process's CPU, and Cassandra's CPU over the connect and a short settle after it (its login checks,
schema reads and connection set-up). Needs the project's Cassandra running (``make services-up``)::

    .venv/bin/python bench/cassandra_connect.py [--pairs 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from drain_benchmark import ProcessCpu, load_project_env

#: Cassandra finishes a closed session's work (its connections' tear-down) within this.
SETTLE_SECONDS = 0.5


def one_session(cpu: ProcessCpu, schema_metadata: bool) -> tuple[float, float, float]:
    """Seconds to a first answer, this process's and Cassandra's CPU seconds, for one session."""
    from kafkapipeline.cassandra.session import cassandra_session

    before = cpu.sample()
    started = time.perf_counter()
    with cassandra_session(schema_metadata=schema_metadata) as session:
        session.execute("SELECT release_version FROM system.local")
        seconds = time.perf_counter() - started
    time.sleep(SETTLE_SECONDS)
    after = cpu.sample()
    return seconds, after["python"] - before["python"], after["cassandra"] - before["cassandra"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pairs", type=int, default=8, help="sessions opened per mode, alternating")
    args = parser.parse_args(argv)
    load_project_env()
    cpu = ProcessCpu()
    if "cassandra" not in cpu.pids:
        print("no Cassandra pid file under the state folder: run `make services-up` first", file=sys.stderr)
        return 2
    one_session(cpu, True)  # the driver's imports and first connect, in neither mode's figures
    results: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
    for _ in range(args.pairs):
        for mode in (True, False):
            results[mode].append(one_session(cpu, mode))
    print(f"Opening a Cassandra session, medians of {args.pairs} each (alternating):")
    print(f"  {'schema metadata':<18}{'to first answer':>17}{'client CPU':>12}{'Cassandra CPU':>15}")
    for mode, label in ((True, "read (default)"), (False, "skipped (drain)")):
        wall, client, server = (statistics.median(column) for column in zip(*results[mode], strict=True))
        print(f"  {label:<18}{wall:>15.3f} s{client:>10.3f} s{server:>13.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
