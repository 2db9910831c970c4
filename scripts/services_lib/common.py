"""What every service shares: paths, errors, output, and the process and port helpers.

Standard library only, like the rest of ``scripts/services``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import stat
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
SCRIPTS = PACKAGE.parent
REPO = SCRIPTS.parent
CONF_DIR = SCRIPTS / "services.d"
HOST = "127.0.0.1"

# Marker on every command line we start: lets us recognise our own processes even if a
# pid file is lost, and tell them apart from an unrelated process holding the port.  JVMs
# carry it as ``-Dkafkapipeline.service=<name>``, Postgres as ``-c kafkapipeline.service=<name>``.
MARKER = "-Dkafkapipeline.service="
_TOKEN = re.compile(r"(?:-D)?kafkapipeline\.(service|state|port)=(.*)")


class ServiceError(Exception):
    """A failure with a message meant for a person; printed without a traceback."""


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def env_int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    """The whole number in environment variable ``name``; ``default`` when it is unset or empty.

    Anything else, or a number outside ``minimum..maximum``, is a :class:`ServiceError` naming
    the variable and the range (``scripts/services`` and ``scripts/airflow-components`` share it).
    """
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < minimum or (maximum is not None and value > maximum):
        wanted = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
        raise ServiceError(f"{name}={raw!r} is not a whole number {wanted}")
    return value


def env_port(name: str, default: int) -> int:
    """A TCP port from environment variable ``name`` (1..65535), ``default`` when unset."""
    return env_int(name, default, minimum=1, maximum=65535)


def cache_root() -> Path:
    configured = os.environ.get("KAFKAPIPELINE_CACHE")
    if configured:
        return Path(configured).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "kafkapipeline"


def state_root() -> Path:
    configured = os.environ.get("KAFKAPIPELINE_STATE")
    return Path(configured).expanduser().resolve() if configured else REPO / ".state"


def make_private(state: Path) -> None:
    """No one but this account reads the state folder: group and other bits off every file and folder.

    As root, the folder itself stays enterable (0711, never listable or readable) for the unprivileged
    account PostgreSQL runs as, which owns its own 0700 folder inside.
    """
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o711 if os.geteuid() == 0 else 0o700)
    for root, dirs, files in os.walk(state):
        for name in [*dirs, *files]:
            path = Path(root) / name
            with contextlib.suppress(OSError):
                mode = path.lstat().st_mode
                if not stat.S_ISLNK(mode) and mode & 0o077:
                    path.chmod(stat.S_IMODE(mode) & 0o700)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the first byte (it holds a password)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    path.chmod(0o600)  # an older file keeps its mode through O_CREAT


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GiB"


def dir_size(path: Path) -> tuple[int, int]:
    total = count = 0
    for p in path.rglob("*"):
        if p.is_file():
            total += p.stat().st_size
            count += 1
    return total, count


def tail(path: Path, lines: int = 40) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            data = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return f"(no file {path})"
    return "\n".join(data.splitlines()[-lines:])


def say(msg: str) -> None:
    print(msg, flush=True)


def warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr, flush=True)


def read_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except (OSError, IndexError):
        pass
    return True


def markers_of(args: list[str]) -> dict[str, str]:
    """The ``kafkapipeline.<service|state|port>=`` tokens of a command line we started."""
    found: dict[str, str] = {}
    for a in args:
        m = _TOKEN.fullmatch(a)
        if m:
            found.setdefault(m.group(1), m.group(2))
    return found


def is_ours(pid: int, service: str, state: Path, port: int) -> bool:
    """Is `pid` this project's `service` for this state folder or on this port?

    By port too, so a second checkout sees (and its `down` stops) a service another left on the port.
    """
    marks = markers_of(read_cmdline(pid))
    if marks.get("service") != service:
        return False
    return marks.get("state") == str(state) or marks.get("port") == str(port)


def live_pids() -> list[int]:
    return sorted(int(e) for e in os.listdir("/proc") if e.isdigit())


def child_pids(pid: int) -> list[int]:
    children = []
    for p in live_pids():
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:  # ppid
                children.append(p)
    return children


def find_our_pids(service: str, state: Path, port: int) -> list[int]:
    return [p for p in live_pids() if is_ours(p, service, state, port) and pid_alive(p)]


def state_of(pid: int) -> str | None:
    """The state folder a process of ours was started with."""
    return markers_of(read_cmdline(pid)).get("state")


def port_free(port: int, host: str = HOST) -> bool:
    """True if we could bind host:port ourselves (SO_REUSEADDR, as Java servers do)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        return True
    except OSError as e:
        if e.errno in (errno.EADDRINUSE, errno.EACCES):
            return False
        raise
    finally:
        s.close()


def port_owner(port: int) -> str:
    """Best effort 'pid N (command)' of whoever listens on TCP `port`, from /proc."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    if not inodes:
        return "an unknown process"
    targets = {f"socket:[{i}]" for i in inodes}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{entry}/fd"):
                if os.readlink(f"/proc/{entry}/fd/{fd}") in targets:
                    return f"pid {entry} ({describe_cmdline(read_cmdline(int(entry)))})"
        except OSError:
            continue
    return "a process this user cannot inspect"


def describe_cmdline(args: list[str]) -> str:
    """Short description of a command line: our services by name, java by main class."""
    if not args:
        return "?"
    marks = markers_of(args)
    svc, st = marks.get("service"), marks.get("state")
    if not svc and len(args) > 1 and os.path.basename(args[0]).startswith("redis-server"):
        # Redis carries no marker; the config scripts/services wrote starts with one.
        with contextlib.suppress(OSError):
            if Path(args[1]).read_text().startswith("# kafkapipeline.service=redis"):
                svc, st = "redis", str(Path(args[1]).parent.parent)
    if svc:
        return f"this project's {svc} run from state folder {st}"
    if os.path.basename(args[0]) == "java":
        skip_next = False
        for a in args[1:]:
            if skip_next:
                skip_next = False
            elif a in ("-cp", "-classpath", "--class-path", "--add-opens", "--add-exports", "-jar"):
                skip_next = a != "-jar"
                if a == "-jar":
                    return f"java -jar {args[args.index(a) + 1]}" if args.index(a) + 1 < len(args) else "java"
            elif not a.startswith("-"):
                return f"java {a}"
    return " ".join(args)[:120]


def rss_kib(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) in KiB from /proc/<pid>/status."""
    cur = peak = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1])
    except OSError:
        pass
    return cur, peak


#: Characters a generated or supplied password may use: it goes into URLs unescaped.
_URL_SAFE = re.compile(r"[A-Za-z0-9._~-]{12,}")


def secret(state: Path, name: str, env_var: str) -> str:
    """The password `name`: from `env_var` if set, else ``<state>/secrets/<name>.password``.

    The file is created once (mode 0600, 48 hex characters) by whichever comes first, this
    script or scripts/env.sh, with the same no-clobber link so both always read one value.
    """
    value = os.environ.get(env_var, "")
    if value:
        if not _URL_SAFE.fullmatch(value):
            raise ServiceError(
                f"{env_var} must be at least 12 characters from A-Z a-z 0-9 . _ ~ - "
                "(it is used unescaped in connection URLs)"
            )
        return value
    folder = state / "secrets"
    path = folder / f"{name}.password"
    if not path.is_file() or not path.stat().st_size:
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(os.urandom(24).hex())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text().strip()
