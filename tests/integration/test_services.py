"""Integration tests for ``scripts/services`` (real Kafka and Cassandra, no Docker).

In CI the services were started by ``scripts/services up`` before pytest; run locally, the
module fixture starts them itself.  Either way the services are left UP at the end, so the
rest of the integration suite can keep using them.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from cassandra.cluster import NoHostAvailable

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "services"
# Cold start downloads ~110 MiB and boots two JVMs on 2 cores: be generous.
UP_TIMEOUT = 900


def _load_script_module():
    loader = importlib.machinery.SourceFileLoader("kafkapipeline_services", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


services = _load_script_module()

# Loading the script put scripts/ on sys.path: its per-service logins come from the same place.
from services_lib.cassandra import admin_login  # noqa: E402
from services_lib.kafka import ADMIN_USER  # noqa: E402


def kafka_admin() -> tuple[str, str]:
    return ADMIN_USER, services.secret(state_dir(), "kafka-admin", "KAFKAPIPELINE_KAFKA_ADMIN_PASSWORD")


def kafka_internal_port() -> int:
    return int(os.environ.get("KAFKA_INTERNAL_PORT", "9094"))


#: The services these tests start and stop by name; Postgres and Redis have their own tests
#: (test_services_pg_redis.py), so a down/up here never stops Airflow's metadata database
#: under the rest of the suite.
JVM_SERVICES = ("kafka", "cassandra")


def run(*args: str, timeout: float = UP_TIMEOUT) -> subprocess.CompletedProcess:
    # The script is standard-library only; run it with this interpreter so the test does
    # not depend on PATH or the file mode surviving a checkout.
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def explain(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"


def state_dir() -> Path:
    return services.state_root()


def pid_of(name: str) -> int | None:
    try:
        return int((state_dir() / "run" / f"{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def kafka_port() -> int:
    return services.env_int("KAFKA_PORT", 9092)


def cassandra_port() -> int:
    return services.env_int("CASSANDRA_PORT", 9042)


def status_lines(proc: subprocess.CompletedProcess) -> dict[str, str]:
    lines = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if parts and parts[0] in ("kafka", "cassandra"):
            lines[parts[0]] = line
    return lines


def cassandra_log_tail(lines: int = 60) -> str:
    log = state_dir() / "logs" / "cassandra.log"
    try:
        return f"--- last {lines} lines of {log} ---\n" + "\n".join(log.read_text().splitlines()[-lines:])
    except OSError as e:
        return f"(no cassandra log: {e})"


def eventually_ok(check, seconds: float = 30.0) -> subprocess.CompletedProcess:
    """Run ``check`` until it exits 0 or ``seconds`` pass; return its last result."""
    deadline = time.monotonic() + seconds
    while True:
        proc = check()
        if proc.returncode == 0 or time.monotonic() > deadline:
            return proc
        time.sleep(1)


def ensure_up() -> None:
    proc = run("up", *JVM_SERVICES)
    assert proc.returncode == 0, explain(proc)


@pytest.fixture(scope="module", autouse=True)
def services_left_up(cassandra):
    ensure_up()
    yield
    # Whatever happened above, leave both services running for the rest of the suite, and the
    # suite's shared Cassandra session connected again (it lost its host when Cassandra stopped).
    if run("status", *JVM_SERVICES, timeout=120).returncode != 0:
        ensure_up()
    wait_for_session(cassandra, seconds=120)


def wait_for_session(session, *, seconds: float) -> None:
    """Block until ``session`` answers a query again (its driver reconnects on its own)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            session.execute("SELECT release_version FROM system.local", timeout=10)
            return
        except NoHostAvailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_status_when_up():
    proc = run("status", *JVM_SERVICES, timeout=120)
    assert proc.returncode == 0, explain(proc)
    lines = status_lines(proc)
    assert " up " in lines["kafka"], explain(proc)
    assert " up " in lines["cassandra"], explain(proc)
    assert f"127.0.0.1:{kafka_port()}" in lines["kafka"]
    assert f"127.0.0.1:{cassandra_port()}" in lines["cassandra"]
    assert pid_of("kafka") and pid_of("cassandra")


def test_health_probes_speak_the_wire_protocols():
    info = services.kafka_probe(kafka_internal_port(), plain=kafka_admin())
    assert [b[2] for b in info["brokers"]] == [kafka_internal_port()]
    assert info["cluster_id"]
    release = services.cassandra_probe(cassandra_port(), login=admin_login())["release_version"]
    assert release.startswith("5.0."), release


def test_logs_lists_real_log_files():
    proc = run("logs", "-n", "5", timeout=60)
    assert proc.returncode == 0, explain(proc)
    assert "server.log" in proc.stdout
    assert "system.log" in proc.stdout


def test_down_makes_status_fail_and_up_heals_keeping_data():
    # If the running Cassandra was started from another checkout's state folder (a developer's
    # services seen from CI's fresh clone), the `up` below starts this checkout's own node with
    # its own data, so only check that data survives when the node is already ours.
    own_node = services.state_of(pid_of("cassandra") or 0) == str(state_dir())
    keyspace = f"services_test_{uuid.uuid4().hex[:8]}"
    services.cql_query(
        cassandra_port(),
        f"CREATE KEYSPACE {keyspace} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}",
        timeout=60,
        login=admin_login(),
    )
    try:
        down = run("down", *JVM_SERVICES, timeout=300)
        assert down.returncode == 0, explain(down)
        assert pid_of("kafka") is None and pid_of("cassandra") is None, explain(down)

        status = run("status", *JVM_SERVICES, timeout=120)
        assert status.returncode != 0, explain(status)
        lines = status_lines(status)
        assert lines["kafka"].split()[1] == "down", explain(status)
        assert lines["cassandra"].split()[1] == "down", explain(status)
        with pytest.raises(OSError):
            services.kafka_probe(kafka_internal_port(), timeout=2, plain=kafka_admin())
        with pytest.raises(OSError):
            services.cassandra_probe(cassandra_port(), timeout=2, login=admin_login())

        up = run("up", *JVM_SERVICES)
        assert up.returncode == 0, explain(up)
        assert "kafka healthy in" in up.stdout, explain(up)
        assert "cassandra healthy in" in up.stdout, explain(up)

        # `up` returned on the first healthy probe; a node that just started may still be
        # settling (replaying its commit log, loading groups), so allow it a short grace.
        status = eventually_ok(lambda: run("status", *JVM_SERVICES, timeout=120))
        assert status.returncode == 0, f"{explain(status)}\n{explain(up)}"

        # Data survives a restart (down without --purge keeps the data folders).
        rows = services.cql_query(
            cassandra_port(),
            f"SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = '{keyspace}'",
            timeout=30,
            login=admin_login(),
        )
        if own_node:
            assert [r[0].decode() for r in rows] == [keyspace], (
                f"keyspace {keyspace} did not survive the restart\n{explain(down)}\n{explain(up)}\n"
                + cassandra_log_tail()
            )
    finally:
        if run("status", *JVM_SERVICES, timeout=120).returncode != 0:
            ensure_up()
        services.cql_query(
            cassandra_port(), f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60, login=admin_login()
        )


def test_second_up_is_idempotent():
    before = (pid_of("kafka"), pid_of("cassandra"))
    assert all(before)
    t0 = time.monotonic()
    proc = run("up", *JVM_SERVICES, timeout=300)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, explain(proc)
    assert proc.stdout.count("already running") == 2, explain(proc)
    assert (pid_of("kafka"), pid_of("cassandra")) == before
    assert elapsed < 60, f"idempotent up took {elapsed:.1f}s"


def test_script_is_standard_library_only():
    # It must run with the system python3 before any virtualenv exists.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(SCRIPT), "--help"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, explain(proc)
    assert "up" in proc.stdout and "down" in proc.stdout
