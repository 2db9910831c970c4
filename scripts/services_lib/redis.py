"""Redis from the Debian package (``redis-server``): the Celery broker.

127.0.0.1 only, a password (requirepass), data and append-only file in the state folder,
no eviction (a broker must not drop queued tasks).  The config file holds the password, so
it is written with mode 0600 and the password never appears on a command line.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

from .base import Service
from .common import HOST, ServiceError, read_cmdline, secret

APT_HINT = "scripts/install-system-deps (as root), or: apt-get install -y redis-server"
MARK = "# kafkapipeline.service=redis"


def resp(*args: str) -> bytes:
    out = f"*{len(args)}\r\n".encode()
    for a in args:
        data = a.encode()
        out += f"${len(data)}\r\n".encode() + data + b"\r\n"
    return out


def redis_probe(port: int, password: str, host: str = HOST, timeout: float = 3.0) -> dict:
    """AUTH, PING and INFO server over RESP; raises unless the server answers PONG."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(resp("AUTH", password) + resp("PING") + resp("INFO", "server"))
        f = sock.makefile("rb")
        for expected in (b"+OK", b"+PONG"):
            line = f.readline().rstrip(b"\r\n")
            if line != expected:
                raise ConnectionError(f"redis: {line.decode('utf-8', 'replace') or 'no answer'}")
        header = f.readline()
        if not header.startswith(b"$"):
            raise ConnectionError(f"redis: unexpected INFO reply {header!r}")
        info = f.read(int(header[1:]) + 2).decode("utf-8", "replace")
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    return {"version": fields.get("redis_version", "?")}


class Redis(Service):
    name = "redis"
    port_env = "REDIS_PORT"
    default_port = 6379
    main_log_name = "redis.out"

    def __init__(self, state: Path):
        super().__init__(state)
        self.data = self.home / "data"
        self.config = self.home / "redis.conf"

    def password(self) -> str:
        return secret(self.state, "redis", "KAFKAPIPELINE_REDIS_PASSWORD")

    def ensure_installed(self) -> bool:
        found = os.environ.get("REDIS_SERVER") or shutil.which("redis-server") or "/usr/bin/redis-server"
        if not (Path(found).is_file() and os.access(found, os.X_OK)):
            raise ServiceError(f"redis: no redis-server found (PATH, /usr/bin).\nInstall it with: {APT_HINT}")
        self.binary = found
        return False

    def prepare(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        lines = [
            MARK,
            "# Written by scripts/services at each start; edits are lost.",
            f"bind {HOST}",
            f"port {self.port}",
            "protected-mode yes",
            "daemonize no",
            "supervised no",
            # Keep the command line as started: scripts/services recognises its process by it.
            "set-proc-title no",
            'logfile ""',
            f"dir {self.data}",
            "appendonly yes",
            "appendfsync everysec",
            f"maxmemory {os.environ.get('REDIS_MAXMEMORY', '256mb')}",
            "maxmemory-policy noeviction",
            f"requirepass {self.password()}",
        ]
        fd = os.open(self.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")

    def command(self) -> list[str]:
        return [self.binary, str(self.config)]

    def owns(self, args: list[str]) -> bool:
        # Redis takes no unknown arguments, so no marker: its config file says whose it is.
        # Only this state folder's server: another one on the port has another password.
        if len(args) < 2 or not os.path.basename(args[0]).startswith("redis-server"):
            return False
        return Path(args[1]) == self.config

    def state_of_pid(self, pid: int) -> str | None:
        args = read_cmdline(pid)
        return str(Path(args[1]).parent.parent) if len(args) > 1 and args[1].endswith("redis.conf") else None

    def probe(self) -> dict:
        return redis_probe(self.port, self.password())

    def fatal(self, error: str) -> str:
        if "WRONGPASS" in error or "NOAUTH" in error:
            return (
                "redis answers but refuses this state folder's password (it was started with another one): "
                "`scripts/services down redis`, then up again"
            )
        return ""

    def describe(self, info: dict) -> str:
        return f"Redis {info['version']}, data {self.data}"
