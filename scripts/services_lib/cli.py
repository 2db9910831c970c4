"""The commands of scripts/services: up, down, status, logs, pin."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .artifacts import Artifacts
from .base import Service
from .cassandra import Cassandra
from .cluster import cluster_members, nodetool_command, wait_for_cluster
from .common import (
    ServiceError,
    cache_root,
    child_pids,
    human_size,
    make_private,
    pid_alive,
    port_free,
    port_owner,
    rss_kib,
    say,
    state_root,
    tail,
)
from .jmx_exporter import jmx_exporter_artifacts
from .jvm import JvmService
from .kafka import Kafka
from .postgres import Postgres
from .prometheus import Prometheus
from .redis import Redis
from .statsd_exporter import StatsdExporter

SERVICES: dict[str, type[Service]] = {
    "kafka": Kafka,
    "cassandra": Cassandra,
    "postgres": Postgres,
    "redis": Redis,
    # Metrics (docs/metrics.md): the StatsD bridge, and Prometheus scraping it and the JVMs' agents.
    "statsd-exporter": StatsdExporter,
    "prometheus": Prometheus,
}
SERVICE_NAMES = tuple(SERVICES)
JVM_NAMES = tuple(name for name, cls in SERVICES.items() if issubclass(cls, JvmService))
#: What `pin` also pins: the JMX exporter agent the JVMs run with.
JMX_EXPORTER = "jmx-exporter"


class StateLock:
    """Serialise up/down runs against one state folder."""

    def __init__(self, state: Path):
        (state / "run").mkdir(parents=True, exist_ok=True)
        self.path = state / "run" / ".lock"

    def __enter__(self):
        self.f = open(self.path, "w")
        try:
            fcntl.flock(self.f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another scripts/services run holds the lock; waiting ...")
            fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


def selected(names: list[str], state: Path, cluster: bool = False) -> list[Service]:
    if cluster:
        return cluster_members(state, names)
    return [SERVICES[n](state) for n in (names or SERVICE_NAMES)]


def timeout_seconds() -> float:
    try:
        return float(os.environ.get("SERVICES_TIMEOUT", "180"))
    except ValueError:
        return 180.0


def cmd_up(names: list[str], cluster: bool = False) -> int:
    state = state_root()
    make_private(state)
    services = selected(names, state, cluster)
    t_all = time.monotonic()
    with StateLock(state):
        # Resolve artifacts first (serially: Maven's local repository is not concurrency-safe).
        downloaded = False
        for svc in services:
            if svc.running_pid() is None:
                downloaded |= svc.ensure_installed()
        if downloaded:
            total = sum(svc.installed_bytes() for svc in services)
            say(f"artifacts: {human_size(total)} total in {cache_root() / 'artifacts'}")

        # Start whatever is not running; services already running are only health-checked.
        # Check every port first, so a conflict does not leave one service half started.
        running = {svc.name: svc.running_pid() for svc in services}
        for svc in services:
            if running[svc.name] is None:
                svc.check_ports_free()
        pending: dict[str, tuple[Service, subprocess.Popen | None, int, float]] = {}
        for svc in sorted(services, key=lambda s: not s.name.startswith("cassandra")):  # slowest first
            pid = running[svc.name]
            if pid is not None:
                info, _ = svc.try_probe()
                if info is not None:
                    say(
                        f"{svc.name}: already running (pid {pid}){svc.foreign_note(pid)} "
                        f"and healthy at {svc.endpoint()}, " + svc.describe(info)
                    )
                    done = svc.after_healthy()
                    if done:
                        say(f"{svc.name}: {done}")
                    continue
                say(
                    f"{svc.name}: already running (pid {pid}){svc.foreign_note(pid)}, "
                    f"waiting for {svc.endpoint()} to answer ..."
                )
                pending[svc.name] = (svc, None, pid, time.monotonic())
                continue
            svc.pidfile.unlink(missing_ok=True)
            t0 = time.monotonic()
            proc = svc.start()
            say(f"{svc.name}: started pid {proc.pid}, waiting for {svc.endpoint()} ... (log: {svc.main_log})")
            pending[svc.name] = (svc, proc, proc.pid, t0)

        deadline = time.monotonic() + timeout_seconds()
        failures: list[str] = []
        last_err: dict[str, str] = {}
        while pending:
            for name, (svc, proc, pid, t0) in list(pending.items()):
                exited = proc.poll() if proc is not None else (None if pid_alive(pid) else "?")
                if exited is not None:
                    del pending[name]
                    svc.pidfile.unlink(missing_ok=True)
                    failures.append(
                        f"{name}: process {pid} exited (code {exited}) before becoming healthy.\n"
                        + failure_report(svc)
                    )
                    continue
                info, err = svc.try_probe()
                if info is not None:
                    del pending[name]
                    say(f"{name} healthy in {time.monotonic() - t0:.1f}s ({svc.describe(info)})")
                    try:
                        done = svc.after_healthy()
                    except ServiceError as e:
                        failures.append(str(e))
                        continue
                    if done:
                        say(f"{name}: {done}")
                    continue
                last_err[name] = err
                if svc.fatal(err):
                    del pending[name]
                    failures.append(f"{name}: {svc.fatal(err)} ({err})")
                    continue
                if time.monotonic() > deadline:
                    del pending[name]
                    failures.append(
                        f"{name}: not healthy after {timeout_seconds():.0f}s (pid {pid} still running; "
                        f"last probe error: {err}). Raise SERVICES_TIMEOUT or inspect the log; "
                        f"`scripts/services down` stops it.\n" + failure_report(svc)
                    )
            if pending:
                time.sleep(0.25)
        if cluster and not failures:
            try:
                say(f"cluster: {wait_for_cluster(services, timeout_seconds())}")
            except ServiceError as e:
                failures.append(str(e))
        if failures:
            for f in failures:
                print(f"ERROR: {f}", file=sys.stderr)
            return 1
    say(f"up: all {len(services)} healthy in {time.monotonic() - t_all:.1f}s (state {state})")
    return 0


def failure_report(svc: Service, lines: int = 30) -> str:
    parts = []
    for path in dict.fromkeys((svc.main_log, svc.stdout_log)):
        if path.exists() and path.stat().st_size:
            parts.append(f"--- last {lines} lines of {path} ---\n{tail(path, lines)}")
    if not parts:
        parts.append(f"(no output yet in {svc.main_log} or {svc.stdout_log})")
    return "\n".join(parts)


def cmd_down(names: list[str], purge: bool, cluster: bool = False) -> int:
    state = state_root()
    if not state.exists():
        say(f"nothing to stop: {state} does not exist")
        return 0
    if cluster and not (state / "cluster").exists():  # so `make stop`/`make clean` can always ask
        say(f"no cluster under {state / 'cluster'}: nothing to stop")
        return 0
    services = selected(names, state, cluster)
    with StateLock(state):
        # Stop Kafka first: it holds no Cassandra state, and that is the order a consumer expects.
        ordered = sorted(services, key=lambda s: not s.name.startswith("kafka"))
        if cluster:
            # All members of a kind at once: a broker stopped after its peers has no controller
            # quorum left for its controlled shutdown and would wait for the SIGKILL timeout.
            for kind in ("kafka", "cassandra"):
                group = [s for s in ordered if s.name.startswith(kind)]
                with ThreadPoolExecutor(max(1, len(group))) as pool:
                    for svc, msg in zip(group, pool.map(lambda s: s.stop(), group), strict=True):
                        say(f"{svc.name}: {msg}")
        for svc in ordered:
            if not cluster:
                say(f"{svc.name}: {svc.stop()}")
            if purge:
                for d in (svc.home, svc.logs):
                    if d.exists():
                        shutil.rmtree(d)
                (svc.logs.parent / f"{svc.name}.log").unlink(missing_ok=True)
                say(f"{svc.name}: purged {svc.home} and {svc.logs}")
    return 0


def cmd_status(names: list[str], cluster: bool = False) -> int:
    state = state_root()
    services = selected(names, state, cluster)
    width = max(10, *(len(svc.name) for svc in services))
    all_up = True
    for svc in services:
        pid = svc.running_pid() if state.exists() else None
        if pid is None:
            all_up = False
            extra = ""
            if not port_free(svc.port, svc.host):
                extra = f" (but {svc.endpoint()} is held by {port_owner(svc.port)})"
            say(f"{svc.name:<{width}} down{'  ' + svc.endpoint() if cluster else ''}{extra}")
            continue
        info, err = svc.try_probe()
        cur, peak = rss_kib(pid)
        mem = f"rss {cur // 1024} MiB (peak {peak // 1024} MiB)"
        children = child_pids(pid)  # Postgres: one backend per connection
        if children:
            mem += f" + {len(children)} children {sum(rss_kib(c)[0] for c in children) // 1024} MiB"
        if info is None:
            all_up = False
            say(
                f"{svc.name:<{width}} starting/unhealthy  pid {pid}  {svc.endpoint()}  {mem}  ({err})"
                + svc.foreign_note(pid)
            )
        else:
            say(
                f"{svc.name:<{width}} up  pid {pid}  {svc.endpoint()}  {mem}  {svc.describe(info)}"
                + svc.foreign_note(pid)
            )
    say(f"state: {state}  cache: {cache_root() / 'artifacts'}")
    return 0 if all_up else 1


def cmd_logs(names: list[str], lines: int, cluster: bool = False) -> int:
    state = state_root()
    for svc in selected(names, state, cluster):
        files = [p for p in svc.log_files() if p.exists()]
        say(f"== {svc.name}: {svc.logs}")
        if not files:
            say("   (no log files yet)")
            continue
        for p in files:
            say(f"   {p}  ({human_size(p.stat().st_size)})")
        if lines > 0:
            say(f"--- last {lines} lines of {svc.main_log} ---")
            say(tail(svc.main_log, lines))
    return 0


def cmd_nodetool(args: list[str], node: int, cluster: bool) -> int:
    state = state_root()
    nodes = cluster_members(state, ["cassandra"]) if cluster else [Cassandra(state)]
    if not 1 <= node <= len(nodes):
        raise ServiceError(f"--node {node}: there are {len(nodes)} Cassandra node(s)")
    args = args[1:] if args[:1] == ["--"] else args
    return subprocess.run(nodetool_command(nodes[node - 1], args or ["status"]), check=False).returncode


def cmd_pin(names: list[str]) -> int:
    state = state_root()
    jobs: list[tuple[str, Artifacts, JvmService]] = []
    for name in names or [*JVM_NAMES, JMX_EXPORTER]:
        if name == JMX_EXPORTER:  # the agent both JVMs load: resolved with Kafka's Java
            jobs.append((name, jmx_exporter_artifacts(), Kafka(state)))
            continue
        svc = SERVICES[name](state)
        if not isinstance(svc, JvmService):
            raise ServiceError(f"{svc.name} comes from a Debian package: there are no jars to pin")
        jobs.append((name, svc.artifacts(), svc))
    with StateLock(state):  # Maven's local repository is not safe for two runs at once
        for name, arts, svc in jobs:
            say(f"{name}: resolving {arts.key} with Maven (--strict-checksums) ...")
            count = arts.pin(svc.java())
            say(f"{name}: pinned {count} jars of {arts.key} in {arts.pins_file}")
            if arts.complete():
                arts.verify()
                say(f"{name}: the cached jars in {arts.lib} match the new pins")
    say("review the diff (git diff scripts/services.d/artifacts.sha256) and commit it")
    return 0


def stdout_reader_gone() -> bool:
    """Is stdout a pipe or socket whose reading end is closed? (poll reports an error on it.)"""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def quiet_broken_pipe() -> int:
    """The reader went away (``scripts/services status | head -2``): stop without a traceback.

    stdout is pointed at /dev/null so the interpreter's final flush does not fail again.
    """
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 128 + signal.SIGPIPE


CLUSTER_HELP = (
    "the 3-broker Kafka and 3-node Cassandra cluster (KAFKAPIPELINE_CLUSTER_ADDRESSES) instead of "
    "the single nodes; kafka and cassandra only (Postgres and Redis stay single)"
)
EPILOG = ""  # set by scripts/services from its docstring


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/services",
        description="Run Apache Kafka, Apache Cassandra, PostgreSQL, Redis, statsd_exporter and Prometheus "
        "locally (no Docker).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start the services (idempotent) and wait until healthy")
    p_up.add_argument("services", nargs="*", choices=[[], *SERVICE_NAMES], default=[])
    p_up.add_argument("--cluster", action="store_true", help=CLUSTER_HELP)
    p_down = sub.add_parser("down", help="stop the services")
    p_down.add_argument("--purge", action="store_true", help="also delete their data, config and logs")
    p_down.add_argument("services", nargs="*", choices=[[], *SERVICE_NAMES], default=[])
    p_down.add_argument("--cluster", action="store_true", help=CLUSTER_HELP)
    p_status = sub.add_parser("status", help="show state; exit 1 if any service is down")
    p_status.add_argument("services", nargs="*", choices=[[], *SERVICE_NAMES], default=[])
    p_status.add_argument("--cluster", action="store_true", help=CLUSTER_HELP)
    p_logs = sub.add_parser("logs", help="print log file paths and the last lines of the main log")
    p_logs.add_argument("services", nargs="*", choices=[[], *SERVICE_NAMES], default=[])
    p_logs.add_argument("--cluster", action="store_true", help=CLUSTER_HELP)
    p_logs.add_argument("-n", "--lines", type=int, default=20)
    p_tool = sub.add_parser(
        "nodetool", help="Cassandra's nodetool against a node (`nodetool --cluster --node 2 -- repair -full`)"
    )
    p_tool.add_argument("--cluster", action="store_true", help="a node of the cluster (--node 1..3)")
    p_tool.add_argument("--node", type=int, default=1)
    p_tool.add_argument("args", nargs=argparse.REMAINDER, help="nodetool arguments (default: status)")
    p_pin = sub.add_parser(
        "pin", help="pin the SHA-256 of every jar of the current versions (after a version or pom change)"
    )
    p_pin.add_argument("services", nargs="*", choices=[[], *JVM_NAMES, JMX_EXPORTER], default=[])
    args = parser.parse_args(argv)
    # Everything the services write (data, logs, config with passwords) is this account's alone.
    os.umask(0o077)
    names = list(dict.fromkeys(getattr(args, "services", [])))
    commands = {
        "up": lambda: cmd_up(names, args.cluster),
        "down": lambda: cmd_down(names, args.purge, args.cluster),
        "status": lambda: cmd_status(names, args.cluster),
        "logs": lambda: cmd_logs(names, args.lines, args.cluster),
        "pin": lambda: cmd_pin(names),
        "nodetool": lambda: cmd_nodetool(args.args, args.node, args.cluster),
    }
    try:
        return commands[args.command]()
    except ServiceError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Only a closed stdout ends quietly; a broken pipe or socket elsewhere is a real error.
        if stdout_reader_gone():
            return quiet_broken_pipe()
        raise


if __name__ == "__main__":
    sys.exit(main())
