"""The life cycle every service shares: start in its own session, find it again, probe, stop."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import struct
import subprocess
import time
from pathlib import Path
from typing import Any

from .common import (
    HOST,
    ServiceError,
    env_port,
    live_pids,
    markers_of,
    pid_alive,
    port_free,
    port_owner,
    read_cmdline,
)


class Service:
    name = ""
    port_env = ""
    default_port = 0
    main_log_name = ""
    #: The address it listens on (cluster members each have their own loopback address).
    host = HOST
    #: Signal for a clean, prompt stop (Postgres wants SIGINT: "fast" shutdown).
    stop_signal = signal.SIGTERM

    def __init__(self, state: Path):
        self.state = state
        self.home = state / self.name
        self.logs = state / "logs" / self.name
        self.run_dir = state / "run"
        self.pidfile = self.run_dir / f"{self.name}.pid"
        self.stdout_log = self.logs / f"{self.name}.out"
        self.port = env_port(self.port_env, self.default_port)

    # ---- subclass hooks
    @property
    def main_log(self) -> Path:
        return self.logs / self.main_log_name

    def ensure_installed(self) -> bool:
        """Make the service's program available (download, check); True if it downloaded."""
        return False

    def installed_bytes(self) -> int:
        """Size of what ensure_installed downloaded (0 for system packages)."""
        return 0

    def all_ports(self) -> dict[str, int]:
        return {self.port_env: self.port}

    def prepare(self) -> None:
        """Write config and initialise data before each start."""

    def command(self) -> list[str]:
        raise NotImplementedError

    def popen_options(self) -> dict[str, Any]:
        """Extra subprocess.Popen arguments (user, group, cwd ...)."""
        return {}

    def preexec(self) -> None:
        """Runs in the child between fork and exec."""

    def probe(self) -> dict:
        raise NotImplementedError

    def describe(self, info: dict) -> str:
        return ""

    def fatal(self, error: str) -> str:
        """Why a probe error will not go away by waiting (say so at once), or ""."""
        return ""

    def after_healthy(self) -> str:
        """Idempotent setup once the service answers (users, databases); says what it did."""
        return ""

    def owns(self, args: list[str]) -> bool:
        """Is a process with command line `args` this service, for this state folder or port?

        By port too, so a second checkout sees (and its `down` stops) a service another left on the port.
        """
        marks = markers_of(args)
        if marks.get("service") != self.name:
            return False
        return marks.get("state") == str(self.state) or marks.get("port") == str(self.port)

    def state_of_pid(self, pid: int) -> str | None:
        """The state folder a process of ours was started with."""
        return markers_of(read_cmdline(pid)).get("state")

    # ---- common behaviour
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def markers(self, prefix: str = "-D") -> list[str]:
        return [
            f"{prefix}kafkapipeline.service={self.name}",
            f"{prefix}kafkapipeline.state={self.state}",
            f"{prefix}kafkapipeline.port={self.port}",
        ]

    def foreign_note(self, pid: int) -> str:
        """' (from state folder X)' when `pid` was started from another checkout's state."""
        other = self.state_of_pid(pid)
        return f" (from state folder {other})" if other and other != str(self.state) else ""

    def find_pids(self) -> list[int]:
        return [p for p in live_pids() if self.owns(read_cmdline(p)) and pid_alive(p)]

    def running_pid(self) -> int | None:
        """Pid of our live process for this state folder (pid file first, then /proc scan)."""
        try:
            pid = int(self.pidfile.read_text().strip())
            if pid_alive(pid) and self.owns(read_cmdline(pid)):
                return pid
        except (OSError, ValueError):
            pass
        pids = self.find_pids()
        if pids:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.pidfile.write_text(f"{pids[0]}\n")
            return pids[0]
        return None

    def try_probe(self) -> tuple[dict | None, str]:
        try:
            return self.probe(), ""
        except (OSError, ConnectionError, struct.error, ValueError, IndexError) as e:
            return None, str(e) or e.__class__.__name__

    def check_ports_free(self) -> None:
        for var, port in self.all_ports().items():
            if not port_free(port):
                owner = port_owner(port)
                fix = f"Stop that process, or pick another port with {var}=<port>."
                if "this project's" in owner:
                    m = re.search(r"state folder (\S+)\)", owner)
                    other = m.group(1) if m else "?"
                    fix = (
                        f"Stop it with `KAFKAPIPELINE_STATE={other} scripts/services down {self.name}`, "
                        f"or pick another port with {var}=<port>."
                    )
                raise ServiceError(
                    f"{self.name}: port {HOST}:{port} is already in use by {owner}, "
                    f"so the {self.name} of state folder {self.state} cannot start.\n{fix}"
                )

    def start(self) -> subprocess.Popen:
        self.ensure_installed()
        self.check_ports_free()
        for d in (self.home, self.logs, self.run_dir):
            d.mkdir(parents=True, exist_ok=True)
        # <state>/logs/<name>.log -> <name>/<main log>, for anything that globs logs/*.log.
        link = self.logs.parent / f"{self.name}.log"
        if not link.is_symlink():
            with contextlib.suppress(OSError):
                link.symlink_to(Path(self.name) / self.main_log_name)
        self.prepare()
        cmd = self.command()
        options = {"cwd": self.home, **self.popen_options()}
        with open(self.stdout_log, "ab") as out:
            out.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(cmd)}\n".encode())
            out.flush()
            env = dict(os.environ)
            env["MALLOC_ARENA_MAX"] = env.get("MALLOC_ARENA_MAX", "4")
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                close_fds=True,
                preexec_fn=self.preexec,  # noqa: PLW1509 - this script starts no threads
                **options,
            )
        self.pidfile.write_text(f"{proc.pid}\n")
        return proc

    def stop(self, timeout: float = 60.0) -> str:
        pids = set(self.find_pids())
        pid = self.running_pid()
        if pid:
            pids.add(pid)
        if not pids:
            self.pidfile.unlink(missing_ok=True)
            return "not running"
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, self.stop_signal)
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout and any(pid_alive(p) for p in pids):
            time.sleep(0.2)
        killed = False
        for p in pids:
            if pid_alive(p):
                killed = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGKILL)
        t1 = time.monotonic()
        while time.monotonic() - t1 < 10 and any(pid_alive(p) for p in pids):
            time.sleep(0.1)
        self.pidfile.unlink(missing_ok=True)
        ids = ",".join(str(p) for p in sorted(pids))
        how = f"killed (SIGKILL after {timeout:.0f}s)" if killed else "stopped"
        return f"{how} pid {ids} in {time.monotonic() - t0:.1f}s"

    def log_files(self) -> list[Path]:
        files = [self.main_log, self.stdout_log]
        files += sorted(p for p in self.logs.glob("*.log") if p not in files)
        return list(dict.fromkeys(files))
