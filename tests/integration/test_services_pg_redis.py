"""scripts/services runs a real PostgreSQL and Redis (Debian packages), like Kafka and Cassandra.

Each test module run gets its own state folder and free ports, and starts and stops only
``postgres`` and ``redis`` there: the shared services of the suite (and Airflow's metadata
database in the default state folder) are never touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "services"

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    def __init__(self, state: Path):
        self.state = state
        self.env = {
            **os.environ,
            "KAFKAPIPELINE_STATE": str(state),
            "POSTGRES_PORT": str(free_port()),
            "REDIS_PORT": str(free_port()),
            "SERVICES_TIMEOUT": "120",
        }
        for name in ("KAFKAPIPELINE_POSTGRES_PASSWORD", "KAFKAPIPELINE_REDIS_PASSWORD"):
            self.env.pop(name, None)

    @property
    def pg_port(self) -> int:
        return int(self.env["POSTGRES_PORT"])

    @property
    def redis_port(self) -> int:
        return int(self.env["REDIS_PORT"])

    def services(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, str(SCRIPT), *args],
            check=False,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and proc.returncode != 0:
            pytest.fail(f"scripts/services {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def password(self, name: str) -> str:
        return (self.state / "secrets" / f"{name}.password").read_text().strip()

    def pg_connect(self, password: str | None = None):
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1",
            port=self.pg_port,
            user="airflow",
            dbname="airflow",
            password=self.password("postgres") if password is None else password,
            connect_timeout=10,
        )

    def redis(self, password: str | None = None):
        import redis

        return redis.Redis(
            host="127.0.0.1",
            port=self.redis_port,
            password=self.password("redis") if password is None else password,
            socket_timeout=10,
        )


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # Under /tmp with mode 0755: as root, PostgreSQL runs as the `postgres` account, which must
    # be able to reach its data folder (pytest's own tmp folders are 0700).
    state = Path(tempfile.mkdtemp(prefix="kp-pg-redis-", dir="/tmp"))
    state.chmod(0o755)
    stack = Stack(state)
    up = stack.services("up", "postgres", "redis")
    stack.up_output = up.stdout
    try:
        yield stack
    finally:
        stack.services("down", "postgres", "redis", check=False)
        shutil.rmtree(state, ignore_errors=True)


def test_up_makes_both_healthy_and_prepares_airflows_database(stack):
    assert "postgres healthy" in stack.up_output
    assert "redis healthy" in stack.up_output
    assert "role airflow and database airflow ready" in stack.up_output
    with stack.pg_connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT current_user, current_database(), current_setting('fsync')")
        assert cur.fetchone() == ("airflow", "airflow", "on")
        cur.execute("SELECT current_setting('listen_addresses'), current_setting('port')")
        assert cur.fetchone() == ("127.0.0.1", str(stack.pg_port))
        cur.execute("SELECT rolcreatedb, rolsuper FROM pg_roles WHERE rolname = 'airflow'")
        assert cur.fetchone() == (True, False)


def test_passwords_are_generated_into_the_state_folder_only(stack):
    secrets = stack.state / "secrets"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    for name in ("postgres", "postgres-superuser", "redis"):
        path = secrets / f"{name}.password"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(path.read_text().strip()) >= 32
    # Neither password shows on a command line.
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    cmdlines = []
    for pid in pids:
        try:
            cmdlines.append(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"))
        except OSError:
            continue
    for name in ("postgres", "postgres-superuser", "redis"):
        assert not [c for c in cmdlines if stack.password(name) in c], f"{name} password on a command line"
    # The Redis config holds its password: readable by its owner only.
    assert stat.S_IMODE((stack.state / "redis" / "redis.conf").stat().st_mode) == 0o600


def test_postgres_refuses_a_wrong_password(stack):
    import psycopg2

    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        stack.pg_connect(password="not-the-password")


def test_redis_requires_its_password(stack):
    import redis

    with pytest.raises(redis.AuthenticationError):
        stack.redis(password="not-the-password").ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=stack.redis_port, socket_timeout=10).ping()
    assert stack.redis().ping()
    assert stack.redis().config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}


def test_status_shows_both_with_memory_and_finds_them_without_pid_files(stack):
    for pidfile in (stack.state / "run").glob("*.pid"):
        pidfile.unlink()
    out = stack.services("status", "postgres", "redis").stdout
    lines = {line.split()[0]: line for line in out.splitlines() if line.split()}
    for name, port in (("postgres", stack.pg_port), ("redis", stack.redis_port)):
        assert " up  pid " in lines[name]
        assert f"127.0.0.1:{port}" in lines[name]
        assert "rss " in lines[name] and " MiB" in lines[name]
    assert (stack.state / "run" / "postgres.pid").exists(), "status re-found postgres by its command line"


def test_up_again_changes_nothing(stack):
    out = stack.services("up", "postgres", "redis").stdout
    assert "postgres: already running" in out
    assert "redis: already running" in out


def test_data_survives_down_and_up(stack):
    with stack.pg_connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS kept (v text)")
        cur.execute("INSERT INTO kept VALUES ('before restart')")
    conn.close()
    stack.redis().set("kept", "before restart")

    down = stack.services("down", "postgres", "redis").stdout
    assert "postgres: stopped" in down and "redis: stopped" in down
    assert "killed" not in down, "a clean stop needs no SIGKILL"
    status = stack.services("status", "postgres", "redis", check=False)
    assert status.returncode == 1
    assert "postgres   down" in status.stdout and "redis      down" in status.stdout

    up = stack.services("up", "postgres", "redis").stdout
    assert "initialised" not in up, "an existing data folder must not be initialised again"
    with stack.pg_connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT v FROM kept")
        assert cur.fetchall() == [("before restart",)]
    conn.close()
    assert stack.redis().get("kept") == b"before restart"


def test_a_port_taken_by_another_state_folder_is_a_clear_error(stack):
    other_state = Path(tempfile.mkdtemp(prefix="kp-pg-conflict-", dir="/tmp"))
    other_state.chmod(0o755)
    try:
        other = Stack(other_state)
        other.env["REDIS_PORT"] = str(stack.redis_port)  # held by the module's Redis
        other.env["POSTGRES_PORT"] = str(stack.pg_port)  # held by the module's Postgres
        for name, variable, port in (
            ("redis", "REDIS_PORT", stack.redis_port),
            ("postgres", "POSTGRES_PORT", stack.pg_port),
        ):
            proc = other.services("up", name, check=False)
            assert proc.returncode != 0
            assert f"port 127.0.0.1:{port} is already in use" in proc.stderr
            assert variable in proc.stderr
            assert "down" in proc.stderr, "the message says how to stop the other one"
    finally:
        shutil.rmtree(other_state, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL as another account")
def test_as_root_an_unreachable_state_folder_is_a_clear_error(tmp_path):
    hidden = tmp_path / "private"
    hidden.mkdir(mode=0o700)
    stack = Stack(hidden / "state")
    proc = stack.services("up", "postgres", check=False)
    assert proc.returncode != 0
    assert "cannot enter" in proc.stderr and "KAFKAPIPELINE_STATE" in proc.stderr
