"""The cost of replication on this machine: single node against the 3 + 3 cluster, in one run.

For each mode it starts Kafka and Cassandra (timing the start-up), then Postgres and Redis, runs
``bench/drain_benchmark.py`` and ``bench/freshness_benchmark.py`` in that mode's environment (cluster:
RF 3 everywhere, LOCAL_QUORUM writes), stops what it started and prints both modes side by side.
It refuses to run while any service is up or its ports are held. Run it alone, on a quiet machine::

    scripts/services down && scripts/services down --cluster   # if they run
    .venv/bin/python bench/cluster_benchmark.py                 # takes a while
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SERVICES = REPO_ROOT / "scripts" / "services"
PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
RF3 = "{'class': 'SimpleStrategy', 'replication_factor': 3}"
#: What the cluster mode adds to the environment (scripts/env.sh then lists every member).
CLUSTER_ENV = {
    "KAFKAPIPELINE_CLUSTER": "1",
    "KAFKAPIPELINE_REPLICATION": RF3,
    "KAFKAPIPELINE_TOPIC_REPLICATION_FACTOR": "3",
    "KAFKAPIPELINE_EXPECTED_BROKERS": "3",
    "KAFKAPIPELINE_EXPECTED_CASSANDRA_NODES": "3",
}
MODES = ("single", "cluster")

DRAIN_LINE = re.compile(r"^\s*drain \(this pipeline\)\s+([\d,]+)\s*$", re.MULTILINE)
WRITE_PATH_LINE = re.compile(
    r"^\s*ceiling: write-only, the drain's batched writer\s+([\d,]+)\s*$", re.MULTILINE
)
FRESHNESS_LINE = re.compile(
    r"^produce -> readable \(s\)\s+p50 ([\d.]+)\s+p95 ([\d.]+)\s+max ([\d.]+)\s*$", re.MULTILINE
)


class BenchmarkError(RuntimeError):
    """A step failed or printed no figure; the message says which."""


@dataclass
class ModeResult:
    """The figures of one mode (None: not measured, e.g. skipped or the step failed)."""

    mode: str
    startup_seconds: float | None = None
    drain_msgs: float | None = None
    write_path_rows: float | None = None
    fresh_p50: float | None = None
    fresh_p95: float | None = None
    notes: list[str] = field(default_factory=list)


def parse_drain_output(text: str) -> tuple[float, float | None]:
    """(drain messages/s, write path rows/s) from drain_benchmark.py's results (medians)."""
    drain = DRAIN_LINE.search(text)
    if drain is None:
        raise BenchmarkError("drain_benchmark.py printed no 'drain (this pipeline)' figure")
    written = WRITE_PATH_LINE.search(text)
    return _number(drain), _number(written) if written else None


def _number(match: re.Match[str]) -> float:
    return float(match.group(1).replace(",", ""))


def parse_freshness_output(text: str) -> tuple[float, float]:
    """(p50, p95) seconds from produce to readable, from freshness_benchmark.py's report."""
    found = FRESHNESS_LINE.search(text)
    if found is None:
        raise BenchmarkError("freshness_benchmark.py printed no 'produce -> readable' figure")
    return float(found.group(1)), float(found.group(2))


def mode_env(mode: str, base: dict[str, str]) -> dict[str, str]:
    """The caller's environment for ``mode``: the connections are left to scripts/env.sh, which
    builds them for the mode (every member in cluster mode), so none of the caller's is kept."""
    env = {k: v for k, v in base.items() if not k.startswith("AIRFLOW_CONN_")}
    for name in CLUSTER_ENV:
        env.pop(name, None)
    return env | CLUSTER_ENV if mode == "cluster" else env


def service_commands(mode: str) -> tuple[list[list[str]], list[list[str]], list[list[str]]]:
    """(timed start, other start, stop) ``scripts/services`` argument lists of ``mode``."""
    if mode == "cluster":
        return (
            [["up", "--cluster", "kafka", "cassandra"]],
            [["up", "postgres", "redis"]],
            [["down", "--cluster", "kafka", "cassandra"], ["down", "postgres", "redis"]],
        )
    return [["up", "kafka", "cassandra"]], [["up", "postgres", "redis"]], [["down"]]


def refusal(busy: Sequence[str]) -> str | None:
    """The message refusing to run while ``busy`` (what is up or holds a port) is not empty."""
    if not busy:
        return None
    return (
        "cluster_benchmark.py starts and stops the services itself, so it runs only when none is up; "
        "up or holding a port now: " + "; ".join(busy) + ". Stop them first (scripts/services down; "
        "scripts/services down --cluster), or run the single benchmarks against what runs "
        "(bench/drain_benchmark.py, bench/freshness_benchmark.py)."
    )


def busy_services() -> list[str]:
    """Every service or cluster member of this state folder that runs, and every port they need
    that something else holds."""
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    from services_lib.cli import selected
    from services_lib.common import port_free, port_owner, state_root

    state = state_root()
    busy = []
    for svc in [*selected([], state), *selected([], state, cluster=True)]:
        pids = svc.find_pids()  # a /proc scan: unlike running_pid(), it writes no pid file
        if pids:
            busy.append(f"{svc.name} (pid {', '.join(map(str, pids))})")
        elif not port_free(svc.port, svc.host):
            busy.append(f"{svc.host}:{svc.port} wanted by {svc.name} is held by {port_owner(svc.port)}")
    return list(dict.fromkeys(busy))


def side_by_side(results: Iterable[ModeResult]) -> list[str]:
    """The table: one row per figure, one column per mode, and the cluster's share of single."""
    by_mode = {r.mode: r for r in results}
    rows: list[tuple[str, Callable[[ModeResult], float | None], str]] = [
        ("Kafka + Cassandra start-up (s)", lambda r: r.startup_seconds, "{:.0f}"),
        ("drain throughput (msg/s)", lambda r: r.drain_msgs, "{:,.0f}"),
        ("drain write path (rows/s)", lambda r: r.write_path_rows, "{:,.0f}"),
        ("freshness p50 (s)", lambda r: r.fresh_p50, "{:.2f}"),
        ("freshness p95 (s)", lambda r: r.fresh_p95, "{:.2f}"),
    ]
    lines = [f"{'':<32} {'single node':>12} {'3 + 3 cluster':>14} {'cluster/single':>15}"]
    for label, get, fmt in rows:
        values = [get(by_mode[m]) if m in by_mode else None for m in MODES]
        cells = [fmt.format(v) if v is not None else "-" for v in values]
        single, cluster = values
        ratio = f"{cluster / single:.2f}x" if single and cluster is not None else "-"
        lines.append(f"{label:<32} {cells[0]:>12} {cells[1]:>14} {ratio:>15}")
    for result in by_mode.values():
        lines.extend(f"  {result.mode}: {note}" for note in result.notes)
    return lines


def run(args: list[str], env: dict[str, str], *, echo: bool = True) -> str:
    """Run ``args`` with ``scripts/env.sh`` sourced first; stream and return its output."""
    command = ["bash", "-c", f'. {REPO_ROOT / "scripts" / "env.sh"} && exec "$@"', "env.sh", *args]
    with subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if echo:
                print(f"    {line}", end="", flush=True)
        code = proc.wait()
    output = "".join(lines)
    if code != 0:
        raise BenchmarkError(f"{' '.join(args)} exited with {code}")
    return output


def services(args: list[str], env: dict[str, str]) -> float:
    t0 = time.monotonic()
    print(f"  scripts/services {' '.join(args)}", flush=True)
    run([str(PYTHON), str(SERVICES), *args], env)
    return time.monotonic() - t0


def measure(mode: str, options: argparse.Namespace) -> ModeResult:
    """Start ``mode``'s services, run both benchmarks, stop the services (whatever happened)."""
    result = ModeResult(mode)
    env = mode_env(mode, dict(os.environ))
    timed, others, stop = service_commands(mode)
    print(f"\n=== {mode} ===", flush=True)
    try:
        result.startup_seconds = sum(services(step, env) for step in timed)
        for step in others:
            services(step, env)
        if not options.skip_drain:
            output = run(
                [
                    str(PYTHON),
                    "bench/drain_benchmark.py",
                    "--messages",
                    str(options.messages),
                    "--rounds",
                    str(options.rounds),
                    "--skip",
                    "naive",
                ],
                env,
            )
            result.drain_msgs, result.write_path_rows = parse_drain_output(output)
        if not options.skip_freshness:
            output = run(
                [
                    str(PYTHON),
                    "bench/freshness_benchmark.py",
                    "--rate",
                    str(options.rate),
                    "--seconds",
                    str(options.seconds),
                ],
                env,
            )
            result.fresh_p50, result.fresh_p95 = parse_freshness_output(output)
    except BenchmarkError as err:
        result.notes.append(f"failed: {err}")
    finally:
        for step in stop:
            try:
                services(step, env)
            except BenchmarkError as err:
                result.notes.append(f"stop failed: {err}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=30_000, help="tweets per drain round (default 30000)")
    parser.add_argument("--rounds", type=int, default=3, help="drain/write-path pairs per mode (default 3)")
    parser.add_argument("--rate", type=float, default=20.0, help="freshness: tweets per second (default 20)")
    parser.add_argument(
        "--seconds", type=float, default=120.0, help="freshness: seconds produced (default 120)"
    )
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES), help="default: both")
    parser.add_argument("--skip-drain", action="store_true", help="measure freshness only")
    parser.add_argument("--skip-freshness", action="store_true", help="measure the drain only")
    options = parser.parse_args(argv)
    if options.messages < 1 or options.rounds < 1 or options.rate <= 0 or options.seconds <= 0:
        parser.error("--messages, --rounds, --rate and --seconds must be positive")

    message = refusal(busy_services())
    if message:
        print(message, file=sys.stderr)
        return 2
    started = time.monotonic()
    results = [measure(mode, options) for mode in options.modes]
    print(
        f"\nSingle node against the 3 + 3 cluster ({os.cpu_count()} CPUs, {time.monotonic() - started:.0f}s):"
    )
    print(
        f"  drain: {options.messages} tweets, medians of {options.rounds} rounds; freshness: "
        f"{options.rate:g}/s for {options.seconds:g}s through Airflow; cluster: RF 3, LOCAL_QUORUM, acks=all"
    )
    for line in side_by_side(results):
        print(f"  {line}")
    return 1 if any(r.notes for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
