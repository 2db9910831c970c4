"""What the JVM services (Kafka, Cassandra) share: finding a Java, their jars, their markers."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

from .artifacts import Artifacts
from .base import Service
from .common import ServiceError, dir_size
from .jmx_exporter import jmx_exporter_artifacts, jmx_exporter_enabled

APT_HINT = "apt-get install -y openjdk-17-jdk-headless"


def java_major(java: Path) -> int | None:
    """Major version of a java executable: from <home>/release, else from `java -version`."""
    try:
        home = java.resolve().parent.parent
        release = (home / "release").read_text()
        m = re.search(r'^JAVA_VERSION="(\d+)(?:\.(\d+))?', release, re.M)
        if m:
            major = int(m.group(1))
            return int(m.group(2)) if major == 1 and m.group(2) else major
    except OSError:
        pass
    try:
        out = subprocess.run(
            [str(java), "-version"], check=False, capture_output=True, text=True, timeout=30
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major


def java_candidates(extra_home_var: str | None = None) -> list[tuple[str, Path]]:
    cands: list[tuple[str, Path]] = []
    for var in ([extra_home_var] if extra_home_var else []) + ["JAVA_HOME"]:
        home = os.environ.get(var)
        if home:
            cands.append((f"{var}={home}", Path(home) / "bin" / "java"))
    debian = ["/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/java-17-openjdk-arm64"]
    for home in [*debian, *sorted(glob.glob("/usr/lib/jvm/*17*"))]:
        cands.append((home, Path(home) / "bin" / "java"))
    on_path = shutil.which("java")
    if on_path:
        cands.append(("java on PATH", Path(on_path)))
    return cands


def find_java(service: str, minimum: int, maximum: int | None = None) -> Path:
    """The java to run `service` with.  JAVA_HOME wins if its version fits."""
    seen: list[str] = []
    extra = "CASSANDRA_JAVA_HOME" if service == "cassandra" else None
    for label, java in java_candidates(extra):
        if not (java.is_file() and os.access(java, os.X_OK)):
            if label.startswith(("JAVA_HOME", "CASSANDRA_JAVA_HOME")):
                seen.append(f"{label}: no executable {java}")
            continue
        major = java_major(java)
        if major is None:
            seen.append(f"{label}: cannot tell its version")
            continue
        if major < minimum or (maximum is not None and major > maximum):
            seen.append(f"{label}: Java {major}")
            continue
        return java
    want = f"Java {minimum}" if maximum == minimum else f"Java {minimum}+"
    if maximum and maximum != minimum:
        want = f"Java {minimum}..{maximum}"
    found = "; ".join(seen) if seen else "no java found (JAVA_HOME unset, none in /usr/lib/jvm, none on PATH)"
    hint = f"Install it with: {APT_HINT}"
    if service == "cassandra":
        hint += " (Cassandra 5.0 supports Java 11 and 17 only; point CASSANDRA_JAVA_HOME at a JDK 17)"
    else:
        hint += " (or set JAVA_HOME to a JDK 17 or newer)"
    raise ServiceError(f"{service} needs {want}. Found: {found}.\n{hint}")


class JvmService(Service):
    """A service run as ``java -cp <pinned jars> <main class>``."""

    def artifacts(self) -> Artifacts:
        raise NotImplementedError

    def java(self) -> Path:
        raise NotImplementedError

    def ensure_installed(self) -> bool:
        downloaded = self.artifacts().ensure(self.java())
        if jmx_exporter_enabled():  # the agent both JVMs run with (services_lib/jmx_exporter.py)
            downloaded |= jmx_exporter_artifacts().ensure(self.java())
        return downloaded

    def installed_bytes(self) -> int:
        return dir_size(self.artifacts().lib)[0]

    def prepare(self) -> None:
        self.prepare_jvm(self.java(), self.artifacts())

    def command(self) -> list[str]:
        return self.command_jvm(self.java(), self.artifacts())

    def prepare_jvm(self, java: Path, arts: Artifacts) -> None:
        raise NotImplementedError

    def command_jvm(self, java: Path, arts: Artifacts) -> list[str]:
        raise NotImplementedError
