"""prometheus/statsd_exporter: the StatsD -> Prometheus bridge for Airflow's and the pipeline's metrics.

Debian 12 has no package of it, so it is built once from the Go module proxy (``go install
github.com/prometheus/statsd_exporter@<version>``, pinned below; the module proxy and the checksum
database verify every module) into the artifact cache, ``<cache>/bin/statsd_exporter-<version>``.
StatsD lines arrive on UDP ``127.0.0.1:$KAFKAPIPELINE_STATSD_PORT`` (9125), Prometheus reads
``http://127.0.0.1:$STATSD_EXPORTER_PORT/metrics`` (9102). Neither has a login: StatsD has none, and the
HTTP side serves only those figures, read-only; both listen on loopback only, for this machine's
Airflow, pipeline and Prometheus. The mapping (``deploy/prometheus/statsd-mapping.yml``) is copied into
the state folder at each start; its path on the command line says which state folder a process serves.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from .base import Service
from .common import HOST, REPO, ServiceError, cache_root, env_port, read_cmdline, say

STATSD_EXPORTER_VERSION = os.environ.get("STATSD_EXPORTER_VERSION", "v0.31.0")
MODULE = "github.com/prometheus/statsd_exporter"
MAPPING = REPO / "deploy" / "prometheus" / "statsd-mapping.yml"
#: Where the Go distribution's own installer puts go, when it is not on PATH.
GO_FALLBACK = Path("/usr/local/go/bin/go")


def http_get(url: str, timeout: float = 3.0, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """(status, body) of a GET; an HTTP error status is returned, not raised."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(1 << 20).decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, ""


class StatsdExporter(Service):
    name = "statsd-exporter"
    port_env = "STATSD_EXPORTER_PORT"
    default_port = 9102
    main_log_name = "statsd-exporter.out"

    def __init__(self, state: Path):
        super().__init__(state)
        self.udp_port = env_port("KAFKAPIPELINE_STATSD_PORT", 9125)
        self.mapping = self.home / "statsd-mapping.yml"

    def built_binary(self) -> Path:
        return cache_root() / "bin" / f"statsd_exporter-{STATSD_EXPORTER_VERSION}" / "statsd_exporter"

    def ensure_installed(self) -> bool:
        configured = os.environ.get("STATSD_EXPORTER_BIN")
        if configured:
            if not os.access(configured, os.X_OK):
                raise ServiceError(f"statsd-exporter: STATSD_EXPORTER_BIN={configured} is not an executable")
            self.binary = Path(configured)
            return False
        self.binary = self.built_binary()
        if self.binary.is_file():
            return False
        go = shutil.which("go") or (str(GO_FALLBACK) if GO_FALLBACK.exists() else None)
        if go is None:
            raise ServiceError(
                f"statsd-exporter: not built yet ({self.binary}) and no `go` on PATH to build it with "
                f"(`go install {MODULE}@{STATSD_EXPORTER_VERSION}`); install Go, or point "
                "STATSD_EXPORTER_BIN at a statsd_exporter binary"
            )
        target = self.binary.parent
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        say(f"{self.name}: building {MODULE}@{STATSD_EXPORTER_VERSION} from the Go module proxy ...")
        t0 = time.monotonic()
        env = {**os.environ, "GOBIN": str(tmp), "GOFLAGS": os.environ.get("GOFLAGS", "") + " -modcacherw"}
        proc = subprocess.run(
            [go, "install", f"{MODULE}@{STATSD_EXPORTER_VERSION}"],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
        )
        if proc.returncode != 0 or not (tmp / "statsd_exporter").is_file():
            shutil.rmtree(tmp, ignore_errors=True)
            detail = "\n  ".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
            raise ServiceError(f"statsd-exporter: `go install` failed (exit {proc.returncode}):\n  {detail}")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
        say(f"{self.name}: built in {time.monotonic() - t0:.0f}s -> {self.binary}")
        return True

    def installed_bytes(self) -> int:
        return self.built_binary().stat().st_size if self.built_binary().is_file() else 0

    def all_ports(self) -> dict[str, int]:
        return {self.port_env: self.port}

    def check_ports_free(self) -> None:
        super().check_ports_free()
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.bind((HOST, self.udp_port))
        except OSError:
            raise ServiceError(
                f"{self.name}: UDP {HOST}:{self.udp_port} is already in use, so StatsD cannot listen there; "
                "stop that process or pick another port with KAFKAPIPELINE_STATSD_PORT=<port>"
            ) from None
        finally:
            probe.close()

    def prepare(self) -> None:
        shutil.copyfile(MAPPING, self.mapping)

    def command(self) -> list[str]:
        return [
            str(self.binary),
            f"--statsd.mapping-config={self.mapping}",
            f"--statsd.listen-udp={HOST}:{self.udp_port}",
            "--statsd.listen-tcp=",  # UDP only: what Airflow and the pipeline send
            f"--web.listen-address={HOST}:{self.port}",
            "--log.level=warn",
        ]

    def owns(self, args: list[str]) -> bool:
        # A Go flag parser takes no unknown arguments, so no marker: the mapping's path says whose it is.
        return len(args) > 1 and f"--statsd.mapping-config={self.mapping}" in args

    def state_of_pid(self, pid: int) -> str | None:
        for arg in read_cmdline(pid):
            if arg.startswith("--statsd.mapping-config="):
                return str(Path(arg.split("=", 1)[1]).parent.parent)
        return None

    def probe(self) -> dict:
        status, body = http_get(f"http://{HOST}:{self.port}/metrics")
        if status != 200:
            raise ConnectionError(f"statsd-exporter: /metrics answered HTTP {status}")
        version = "?"
        with contextlib.suppress(ValueError, IndexError):
            line = next(x for x in body.splitlines() if x.startswith("statsd_exporter_build_info"))
            version = line.split('version="', 1)[1].split('"', 1)[0] or STATSD_EXPORTER_VERSION
        return {"version": version}

    def describe(self, info: dict) -> str:
        return f"StatsD on udp {HOST}:{self.udp_port}, metrics on http://{HOST}:{self.port}/metrics"
