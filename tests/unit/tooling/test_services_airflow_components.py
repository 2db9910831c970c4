"""scripts/airflow-components starts, reports and stops each Airflow component as its own process.

Airflow itself is replaced by a small ``airflow`` script (the real one takes a minute per
component on two cores and needs the services): it prints what each real component logs
when it is ready, serves the api-server's health URL, starts a child like Celery's pool, and
one component ignores SIGTERM, so the KILL bound is exercised too.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "airflow-components"

FAKE_AIRFLOW = """#!/usr/bin/env bash
# $1..: the airflow command line.
case "$1" in
  api-server)
    mkdir -p "$FAKE_WEB/api/v2/monitor" && echo ok > "$FAKE_WEB/api/v2/monitor/health"
    cd "$FAKE_WEB" && exec "$FAKE_PYTHON" -m http.server "$AIRFLOW__API__PORT" --bind 127.0.0.1 ;;
  scheduler) echo "Starting the scheduler" ;;
  dag-processor) echo "Starting the Dag Processor Job" ;;
  triggerer)
    trap 'echo "ignoring TERM"' TERM
    echo "Starting the triggerer" ;;
  celery)
    shift 2
    while [ $# -gt 0 ]; do
      case "$1" in --celery-hostname) host="$2"; shift ;; esac
      shift
    done
    echo "args: $*"
    (exec -a "airflow serve-logs" sleep 300) &   # like the worker's log server
    echo "$host ready." ;;
esac
echo "argv: $0 $*"
while true; do sleep 0.2; done
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def env(tmp_path) -> Iterator[dict[str, str]]:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    fake = venv / "bin" / "airflow"
    fake.write_text(FAKE_AIRFLOW)
    fake.chmod(0o755)
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "VIRTUAL_ENV": str(venv),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__API__PORT": str(free_port()),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "3",
        "KAFKAPIPELINE_CELERY_WORKERS": "2",
        "AIRFLOW_COMPONENTS_TIMEOUT": "60",
        "AIRFLOW_COMPONENTS_STOP_TIMEOUT": "3",
        "FAKE_WEB": str(tmp_path / "web"),
        "FAKE_PYTHON": sys.executable,
    }
    yield environment
    # Whatever a test left running (it failed half-way), stop it with the real command.
    subprocess.run(
        [sys.executable, str(SCRIPT), "stop"],
        env={**environment, "AIRFLOW_HOME": str(tmp_path / "airflow")},
        capture_output=True,
        timeout=120,
        check=False,
    )


def run(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"airflow-components {' '.join(args)}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def records(env: dict[str, str]) -> dict[str, dict]:
    folder = Path(env["AIRFLOW_HOME"]) / "run" / "components"
    return {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def session_members(sid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                found.append(int(entry))
    return found


def test_start_status_stop_every_component(env):
    started = run(env, "start")
    names = ["api-server", "scheduler", "dag-processor", "triggerer", "worker-1", "worker-2"]
    for name in names:
        assert f"{name}: ready in" in started.stdout
    recorded = records(env)
    assert sorted(recorded) == sorted(names)
    home = Path(env["AIRFLOW_HOME"])
    host = socket.gethostname()
    for i in (1, 2):
        log = (home / "logs" / "components" / f"worker-{i}.log").read_text()
        assert f"worker{i}@{host} ready." in log
        command = recorded[f"worker-{i}"]["command"]
        assert command[1:] == [
            "celery",
            "worker",
            "--celery-hostname",
            f"worker{i}@{host}",
            "--queues",
            "default",
            "--concurrency",
            "3",
            *(["--skip-serve-logs"] if i > 1 else []),
        ]
    # Each component in its own session, with its own log file.
    assert len({r["pid"] for r in recorded.values()}) == len(names)
    assert len({r["log"] for r in recorded.values()}) == len(names)
    worker_tree = session_members(recorded["worker-1"]["pid"])
    assert len(worker_tree) >= 2, "the worker's child runs in its session"

    status = run(env, "status").stdout
    for name in names:
        line = next(line for line in status.splitlines() if line.startswith(name))
        assert f"pid {recorded[name]['pid']}" in line and " ready " in line and "MiB" in line

    again = run(env, "start").stdout
    assert all(f"{name}: already running" in again for name in names)

    t0 = time.monotonic()
    stopped = run(env, "stop").stdout
    assert time.monotonic() - t0 < 30, "stop is bounded"
    assert "triggerer: killed (SIGKILL after 3s)" in stopped  # it ignores TERM
    assert "scheduler: stopped" in stopped and "api-server: stopped" in stopped
    order = [line.split(":")[0] for line in stopped.splitlines()]
    assert order.index("scheduler") < order.index("worker-1") < order.index("api-server")
    for record in recorded.values():
        assert not alive(record["pid"])
    assert not [p for p in worker_tree if alive(p)], "the worker's child was stopped with it"
    assert records(env) == {}
    assert run(env, "status", check=False).returncode == 1


def test_leftovers_of_a_killed_worker_are_cleaned_up(env):
    """SIGKILL on a worker leaves its log server behind (holding the port): start and stop clean it."""
    run(env, "start", "worker-1")
    try:
        record = records(env)["worker-1"]
        (child,) = [
            p
            for p in session_members(record["pid"])
            if Path(f"/proc/{p}/cmdline").read_bytes().startswith(b"airflow serve-logs")
        ]
        os.kill(record["pid"], 9)
        deadline = time.monotonic() + 10
        while alive(record["pid"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert alive(child), "the stand-in's log server outlives its worker, as Airflow's does"
        restarted = run(env, "start", "worker-1").stdout
        assert "worker-1: not running; killed 1 leftover process(es)" in restarted
        assert not alive(child)
    finally:
        run(env, "stop")
    assert records(env) == {}


def test_without_the_celery_executor_no_worker_is_started(env):
    env["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
    try:
        out = run(env, "start", "scheduler").stdout
        assert "scheduler: ready" in out
        assert sorted(records(env)) == ["scheduler"]
        refused = run(env, "start", "worker-1", check=False)
        assert refused.returncode == 2 and "unknown component(s) worker-1" in refused.stderr
    finally:
        run(env, "stop")
    assert records(env) == {}


def test_a_component_that_dies_at_start_is_reported_with_its_log(env, tmp_path):
    fake = Path(env["VIRTUAL_ENV"]) / "bin" / "airflow"
    fake.write_text('#!/usr/bin/env bash\necho "cannot reach the metadata database" >&2\nexit 3\n')
    proc = run(env, "start", "dag-processor", check=False)
    assert proc.returncode == 1
    assert "dag-processor exited with code 3" in proc.stderr
    assert "cannot reach the metadata database" in proc.stderr


def test_without_airflow_home_it_says_what_to_do(env):
    del env["AIRFLOW_HOME"]
    proc = run(env, "status", check=False)
    assert proc.returncode == 2
    assert "scripts/env.sh" in proc.stderr
