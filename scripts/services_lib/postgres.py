"""PostgreSQL from the Debian package: Airflow's metadata database and Celery's result backend.

initdb and the server refuse to run as root, so as root they run as Debian's ``postgres``
user (the package creates it); otherwise as the current user.  TCP on 127.0.0.1 only, no
Unix socket, scram-sha-256 for every connection, fsync on.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
from pathlib import Path
from typing import Any

from .base import Service
from .common import HOST, ServiceError, markers_of, say, secret

APT_HINT = "scripts/install-system-deps (as root), or: apt-get install -y postgresql-15"
SUPERUSER = "postgres"


_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _identifier(variable: str) -> str:
    value = os.environ.get(variable) or "airflow"
    if not _IDENTIFIER.fullmatch(value):
        raise ServiceError(f"{variable}={value!r}: use lower-case letters, digits and _ (a Postgres name)")
    return value


def airflow_user() -> str:
    return _identifier("KAFKAPIPELINE_POSTGRES_USER")


def airflow_database() -> str:
    return _identifier("KAFKAPIPELINE_POSTGRES_DB")


def find_bindir() -> Path:
    """POSTGRES_BIN_DIR, else the newest /usr/lib/postgresql/<major>/bin, else pg_config --bindir."""
    candidates: list[Path] = []
    if os.environ.get("POSTGRES_BIN_DIR"):
        candidates.append(Path(os.environ["POSTGRES_BIN_DIR"]))
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versions, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)[::-1]
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], check=False, capture_output=True, text=True)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    for c in candidates:
        if all((c / tool).is_file() for tool in ("postgres", "initdb", "psql")):
            return c
    raise ServiceError(
        f"postgres: no PostgreSQL server found (looked in {candidates or '/usr/lib/postgresql'}).\n"
        f"Install it with: {APT_HINT}"
    )


def postgres_probe(port: int, host: str = HOST, timeout: float = 3.0) -> dict:
    """Send a StartupMessage and read the first reply, as pg_isready does.

    An authentication request means the server accepts connections; an ErrorResponse
    (e.g. 57P03 "the database system is starting up") raises.
    """
    params = f"user\0{SUPERUSER}\0database\0postgres\0\0".encode()
    body = struct.pack(">i", 196608) + params  # protocol 3.0
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(body) + 4) + body)
        head = b""
        while len(head) < 5:
            chunk = sock.recv(5 - len(head))
            if not chunk:
                raise ConnectionError("postgres closed the connection")
            head += chunk
        kind, length = head[:1], struct.unpack(">i", head[1:])[0]
        payload = sock.recv(max(0, min(length - 4, 4096)))
    if kind == b"R":
        return {"auth": struct.unpack(">i", payload[:4])[0]}
    if kind == b"E":
        fields = dict((f[:1].decode(), f[1:].decode("utf-8", "replace")) for f in payload.split(b"\0") if f)
        raise ConnectionError(f"postgres {fields.get('C', '?')}: {fields.get('M', 'error')}")
    raise ConnectionError(f"postgres: unexpected reply {kind!r}")


class Postgres(Service):
    name = "postgres"
    port_env = "POSTGRES_PORT"
    default_port = 5432
    main_log_name = "postgres.out"
    stop_signal = signal.SIGINT  # "fast" shutdown: SIGTERM would wait for every client to leave

    def __init__(self, state: Path):
        super().__init__(state)
        self.data = self.home / "data"

    def owns(self, args: list[str]) -> bool:
        # Only this state folder's server: another one on the port has other passwords.
        marks = markers_of(args)
        return marks.get("service") == self.name and marks.get("state") == str(self.state)

    def ensure_installed(self) -> bool:
        self.bindir = find_bindir()
        return False

    def run_as(self) -> pwd.struct_passwd | None:
        """The unprivileged account to run as when we are root (initdb refuses root)."""
        if os.geteuid() != 0:
            return None
        name = os.environ.get("POSTGRES_OS_USER", "postgres")
        try:
            return pwd.getpwnam(name)
        except KeyError:
            raise ServiceError(
                f"postgres: running as root, and there is no '{name}' account to run PostgreSQL as "
                f"(it refuses root). Install the Debian package ({APT_HINT}), which creates it, "
                "or set POSTGRES_OS_USER to an existing unprivileged account."
            ) from None

    def popen_options(self) -> dict[str, Any]:
        user = self.run_as()
        if user is None:
            return {"cwd": self.data}
        return {"cwd": self.data, "user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def check_reachable(self, user: pwd.struct_passwd) -> None:
        for folder in [*reversed(self.home.parents), self.home]:
            st = folder.stat()
            if st.st_uid != user.pw_uid and not st.st_mode & 0o001:
                raise ServiceError(
                    f"postgres: the '{user.pw_name}' account that runs PostgreSQL cannot enter {folder} "
                    f"(mode {oct(st.st_mode & 0o777)}), so it cannot reach {self.data}.\n"
                    f"Use a state folder it can reach (KAFKAPIPELINE_STATE=...), or: chmod o+x {folder}"
                )

    def prepare(self) -> None:
        user = self.run_as()
        self.data.mkdir(parents=True, exist_ok=True)
        if user is not None:
            # Its own 0700 folder inside the private state folder (which it may only enter).
            os.chown(self.home, user.pw_uid, user.pw_gid)
            self.home.chmod(0o700)
            self.check_reachable(user)
            os.chown(self.data, user.pw_uid, user.pw_gid)
        self.data.chmod(0o700)
        if (self.data / "PG_VERSION").exists():
            return
        pwfile = self.home / ".initdb-password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(
                secret(self.state, "postgres-superuser", "KAFKAPIPELINE_POSTGRES_SUPERUSER_PASSWORD") + "\n"
            )
        if user is not None:
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        cmd = [
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
        ]
        try:
            proc = subprocess.run(cmd, check=False, capture_output=True, text=True, **self.popen_options())
        finally:
            pwfile.unlink(missing_ok=True)
        if proc.returncode != 0:
            raise ServiceError(
                f"postgres: initdb failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr).strip()}"
            )
        say(f"postgres: initialised {self.data}")

    def command(self) -> list[str]:
        settings = {
            "listen_addresses": HOST,
            "port": str(self.port),
            "unix_socket_directories": "",
            "fsync": "on",
            "max_connections": os.environ.get("POSTGRES_MAX_CONNECTIONS", "200"),
            "shared_buffers": os.environ.get("POSTGRES_SHARED_BUFFERS", "128MB"),
            "log_min_messages": "warning",
        }
        cmd = [str(self.bindir / "postgres"), "-D", str(self.data)]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        for marker in self.markers(prefix=""):
            cmd += ["-c", marker]
        return cmd

    def probe(self) -> dict:
        return postgres_probe(self.port)

    def describe(self, info: dict) -> str:
        return f"database {airflow_database()}, user {airflow_user()}, data {self.data}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run `sql` (given on stdin, so no password shows in ps) as the superuser."""
        bindir = getattr(self, "bindir", None) or find_bindir()
        env = {
            **os.environ,
            "PGPASSWORD": secret(
                self.state, "postgres-superuser", "KAFKAPIPELINE_POSTGRES_SUPERUSER_PASSWORD"
            ),
            "PGCONNECT_TIMEOUT": "10",
        }
        cmd = [
            str(bindir / "psql"),
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            HOST,
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-d",
            database,
            "-f",
            "-",
        ]
        proc = subprocess.run(
            cmd, input=sql, check=False, capture_output=True, text=True, env=env, timeout=60
        )
        if proc.returncode != 0:
            raise ServiceError(f"postgres: psql failed (exit {proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    def after_healthy(self) -> str:
        """Create (or align) the Airflow role and database; the role may create test databases."""
        user, database = airflow_user(), airflow_database()
        password = secret(self.state, "postgres", "KAFKAPIPELINE_POSTGRES_PASSWORD")
        self.psql(
            f"\\set u '{user}'\n\\set d '{database}'\n"
            "SELECT format('CREATE ROLE %I LOGIN', :'u') WHERE NOT EXISTS "
            "(SELECT FROM pg_roles WHERE rolname = :'u') \\gexec\n"
            f"ALTER ROLE :\"u\" WITH LOGIN CREATEDB PASSWORD '{password}';\n"
            "SELECT format('CREATE DATABASE %I OWNER %I', :'d', :'u') WHERE NOT EXISTS "
            "(SELECT FROM pg_database WHERE datname = :'d') \\gexec\n"
        )
        return f"role {user} and database {database} ready"
