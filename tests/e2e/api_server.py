"""One real ``airflow api-server`` for a test: a free port, the project environment, simple auth users.

The dashboard's e2e tests run it alone (no scheduler, no workers): the plugin is served by it, and its
own ``/api/v2/monitor/health`` shows whether the dashboard's load reaches the rest of Airflow.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from tests.e2e.browser_support import ARTIFACTS, REPO_ROOT, USER

AIRFLOW = Path(sys.executable).parent / "airflow"
STARTUP_TIMEOUT_SECONDS = 240


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def api_server(
    tmp_path: Path,
    password: str,
    *,
    other_users: Mapping[str, tuple[str, str]] | None = None,
    **env_overrides: str,
) -> Iterator[str]:
    """Run ``airflow api-server`` until the block ends; always stopped, whatever happens.

    :param password: the admin ``USER``'s password
    :param other_users: more simple auth manager users, ``{name: (role, password)}``
    """
    port = free_port()
    users = {USER: ("admin", password), **(other_users or {})}
    passwords = tmp_path / "simple_auth_manager_passwords.json"
    passwords.write_text(json.dumps({name: secret for name, (_role, secret) in users.items()}))
    env = {
        **os.environ,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
            f"{name}:{role}" for name, (role, _) in users.items()
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__API__EXPOSE_CONFIG": "False",
        **env_overrides,
    }
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"api-server-{tmp_path.name}.log"
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(AIRFLOW), "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stopping it stops its workers too
        )
    try:
        wait_until_healthy(base_url, process, log_path)
        yield base_url
    finally:
        stop(process)


def wait_until_healthy(base_url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"airflow api-server exited with {process.returncode}; see {log_path}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}/api/v2/monitor/health", timeout=5).status_code == 200:
                return
        time.sleep(1)
    pytest.fail(f"airflow api-server did not answer within {STARTUP_TIMEOUT_SECONDS}s; see {log_path}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def bearer(base_url: str, username: str, password: str) -> dict[str, str]:
    """The ``Authorization`` header of a token from ``POST /auth/token``."""
    response = httpx.post(
        f"{base_url}/auth/token", json={"username": username, "password": password}, timeout=30
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
