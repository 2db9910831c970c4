"""Prometheus from the Debian package (``prometheus``): scrapes the StatsD bridge and the JVMs' exporters.

``http://127.0.0.1:$PROMETHEUS_PORT`` (9090), loopback only and with a login on every request (HTTP basic
auth, ``--web.config.file``): user ``prometheus``, the password generated into
``<state>/secrets/prometheus.password`` (or ``KAFKAPIPELINE_PROMETHEUS_PASSWORD``), only its bcrypt hash
in the web config. Data in ``<state>/prometheus/data`` (``PROMETHEUS_RETENTION``, 15 days); the alerting
rules are ``deploy/prometheus/alerts.yml`` (no Alertmanager: firing alerts show on /alerts and as the
``ALERTS`` series). The scrape targets follow the services: the statsd-exporter, and each Kafka broker's
and Cassandra node's JMX exporter agent (every cluster member with ``KAFKAPIPELINE_CLUSTER=1``).
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import json
import os
import shutil
from pathlib import Path

from .base import Service
from .cluster import cluster_addresses
from .common import HOST, REPO, ServiceError, env_port, read_cmdline, secret
from .jmx_exporter import CASSANDRA_METRICS_DEFAULT_PORT, KAFKA_METRICS_DEFAULT_PORT, jmx_exporter_enabled
from .statsd_exporter import http_get

APT_HINT = "scripts/install-system-deps --services (as root), or: apt-get install -y prometheus"
USER = "prometheus"
RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
SCRAPE_INTERVAL = os.environ.get("PROMETHEUS_SCRAPE_INTERVAL", "10s")


def bcrypt_hash(password: str, cost: int = 10) -> str:
    """The bcrypt hash Prometheus' web config wants, from the system's libcrypt (libxcrypt on Debian)."""
    name = ctypes.util.find_library("crypt") or "libcrypt.so.1"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as err:
        raise ServiceError(f"prometheus: no libcrypt to hash its password with ({err})") from None
    lib.crypt_gensalt.restype = ctypes.c_char_p
    lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    random = os.urandom(16)
    salt = lib.crypt_gensalt(b"$2b$", cost, random, len(random))
    hashed = lib.crypt(password.encode(), salt) if salt else None
    if not hashed or not hashed.startswith(b"$2b$"):
        raise ServiceError("prometheus: this system's libcrypt cannot make bcrypt hashes")
    return hashed.decode()


def prometheus_password() -> str:
    from .common import state_root

    return secret(state_root(), "prometheus", "KAFKAPIPELINE_PROMETHEUS_PASSWORD")


def scrape_targets() -> dict[str, list[str]]:
    """Job -> ``host:port`` of each exporter the services run (cluster members too, when asked)."""
    hosts = cluster_addresses() if os.environ.get("KAFKAPIPELINE_CLUSTER") == "1" else [HOST]
    targets = {"statsd-exporter": [f"{HOST}:{env_port('STATSD_EXPORTER_PORT', 9102)}"]}
    if jmx_exporter_enabled():
        kafka_port = env_port("KAFKA_METRICS_PORT", KAFKA_METRICS_DEFAULT_PORT)
        cassandra_port = env_port("CASSANDRA_METRICS_PORT", CASSANDRA_METRICS_DEFAULT_PORT)
        targets["kafka"] = [f"{h}:{kafka_port}" for h in hosts]
        targets["cassandra"] = [f"{h}:{cassandra_port}" for h in hosts]
    return targets


def prometheus_config(password_file: Path, rules: Path) -> dict:
    """prometheus.yml: the scrape jobs, the rules, and its own /metrics (behind its login)."""
    jobs = [
        {"job_name": job, "static_configs": [{"targets": found}]} for job, found in scrape_targets().items()
    ]
    jobs.append(
        {
            "job_name": "prometheus",
            "basic_auth": {"username": USER, "password_file": str(password_file)},
            "static_configs": [{"targets": [f"{HOST}:{env_port('PROMETHEUS_PORT', 9090)}"]}],
        }
    )
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [str(rules)],
        "scrape_configs": jobs,
    }


class Prometheus(Service):
    name = "prometheus"
    port_env = "PROMETHEUS_PORT"
    default_port = 9090
    main_log_name = "prometheus.out"

    def __init__(self, state: Path):
        super().__init__(state)
        self.data = self.home / "data"
        self.config = self.home / "prometheus.yml"
        self.web_config = self.home / "web.yml"
        self.password_file = self.home / "scrape.password"
        self.rules = self.home / "alerts.yml"

    def ensure_installed(self) -> bool:
        found = os.environ.get("PROMETHEUS_BIN") or shutil.which("prometheus") or "/usr/bin/prometheus"
        if not (Path(found).is_file() and os.access(found, os.X_OK)):
            raise ServiceError(f"prometheus: no prometheus (PATH, /usr/bin).\nInstall it with: {APT_HINT}")
        self.binary = found
        return False

    def _write_private(self, path: Path, text: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        path.chmod(0o600)

    def prepare(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        password = prometheus_password()
        # JSON is YAML: no YAML writer needed in this standard-library script.
        self._write_private(self.web_config, json.dumps({"basic_auth_users": {USER: bcrypt_hash(password)}}))
        self._write_private(self.password_file, password + "\n")
        shutil.copyfile(RULES, self.rules)
        config = prometheus_config(self.password_file, self.rules)
        self._write_private(self.config, json.dumps(config, indent=1))

    def command(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.config}",
            f"--web.config.file={self.web_config}",
            f"--web.listen-address={HOST}:{self.port}",
            f"--storage.tsdb.path={self.data}",
            f"--storage.tsdb.retention.time={os.environ.get('PROMETHEUS_RETENTION', '15d')}",
            "--log.level=warn",
        ]

    def owns(self, args: list[str]) -> bool:
        # No marker (its flag parser refuses unknown flags): its config file's path says whose it is.
        return len(args) > 1 and f"--config.file={self.config}" in args

    def state_of_pid(self, pid: int) -> str | None:
        for arg in read_cmdline(pid):
            if arg.startswith("--config.file="):
                return str(Path(arg.split("=", 1)[1]).parent.parent)
        return None

    def auth_header(self) -> dict[str, str]:
        token = base64.b64encode(f"{USER}:{prometheus_password()}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def probe(self) -> dict:
        status, body = http_get(f"http://{HOST}:{self.port}/-/ready", headers=self.auth_header())
        if status == 401:
            raise ConnectionError("prometheus refuses this state folder's login (HTTP 401)")
        if status != 200:
            raise ConnectionError(f"prometheus: /-/ready answered HTTP {status} {body.strip()[:80]}")
        return {"ready": True}

    def fatal(self, error: str) -> str:
        if "HTTP 401" in error:
            return "prometheus refuses the login: `scripts/services down prometheus`, then up again"
        return ""

    def describe(self, info: dict) -> str:
        password = self.state / "secrets" / "prometheus.password"
        return f"http://{HOST}:{self.port} (user {USER}, password in {password})"
