"""Jars from Maven Central, verified against the SHA-256 pinned in services.d/artifacts.sha256."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .common import CONF_DIR, ServiceError, cache_root, dir_size, human_size, say

KAFKA_VERSION = os.environ.get("KAFKA_VERSION", "4.1.1")
CASSANDRA_VERSION = os.environ.get("CASSANDRA_VERSION", "5.0.9")

PINS_FILE = CONF_DIR / "artifacts.sha256"
PINS_HEADER = """\
# SHA-256 of every jar scripts/services runs, one line per jar:
#   <service>-<version>  <groupId>:<artifactId>:<version>[:<classifier>]  <sha256>
# scripts/services checks the jars against these after each download and whenever it takes
# them from the cache, and refuses to run a jar that is missing here or does not match.
# Written by `scripts/services pin` from the jars Maven resolved (with --strict-checksums)
# into its local repository, each first checked against the .sha1 Maven Central serves.
# After changing a version or a pom: run it, review the diff, commit it.
"""

# Maven's default local repository (where `pin` reads the resolved jars' .sha1 files).
M2_HINT = "~/.m2/repository"


class ChecksumError(ServiceError):
    """A jar that does not match its pinned checksum, or has none: it must not run."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def jar_name(coordinates: str) -> str:
    """The file name copy-dependencies gives a jar: ``<artifact>-<version>[-<classifier>].jar``."""
    parts = coordinates.split(":")
    if len(parts) not in (3, 4) or not all(parts):
        raise ChecksumError(
            f"bad Maven coordinates {coordinates!r} (want group:artifact:version[:classifier])"
        )
    _, artifact, version, *classifier = parts
    return f"{artifact}-{version}" + "".join(f"-{c}" for c in classifier) + ".jar"


_PIN_LINE = re.compile(r"(\S+)\s+(\S+)\s+([0-9a-f]{64})")


def read_pins(pins_file: Path) -> dict[str, dict[str, tuple[str, str]]]:
    """``{"<service>-<version>": {jar file name: (coordinates, sha256)}}`` from a pins file."""
    try:
        text = pins_file.read_text()
    except FileNotFoundError:
        raise ChecksumError(
            f"the pinned checksums file {pins_file} is missing: restore it from git, "
            "or run `scripts/services pin` to create it"
        ) from None
    pins: dict[str, dict[str, tuple[str, str]]] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _PIN_LINE.fullmatch(line)
        if not match:
            raise ChecksumError(
                f"{pins_file}:{number}: {line!r} is not "
                "'<service>-<version> <group>:<artifact>:<version>[:<classifier>] <sha256>'"
            )
        key, coordinates, digest = match.groups()
        pins.setdefault(key, {})[jar_name(coordinates)] = (coordinates, digest)
    return pins


def jar_problems(lib: Path, pins: dict[str, tuple[str, str]]) -> tuple[list[str], bool]:
    """What is wrong with the jars in `lib` against `pins`, and whether a checksum differs."""
    jars = {p.name: p for p in lib.glob("*.jar")}
    problems = [f"{name}: no pinned checksum" for name in sorted(set(jars) - set(pins))]
    problems += [f"{name} ({pins[name][0]}): pinned but missing" for name in sorted(set(pins) - set(jars))]
    mismatch = False
    for name in sorted(set(jars) & set(pins)):
        coordinates, expected = pins[name]
        actual = sha256_file(jars[name])
        if actual != expected:
            mismatch = True
            problems.append(
                f"{name} ({coordinates}): checksum mismatch\n"
                f"      expected sha256 {expected}\n"
                f"      actual   sha256 {actual}"
            )
    return problems, mismatch


# Libraries verified by this process, with the (name, size, mtime) of their jars and the pins'
# digest: `up` checks a library once, not once per call, yet a changed jar is checked again.
_VERIFIED: set[tuple] = set()


class Artifacts:
    def __init__(
        self, name: str, version: str, pom: Path, version_property: str, pins_file: Path | None = None
    ):
        self.name = name
        self.version = version
        self.pom = pom
        self.version_property = version_property
        self.pins_file = pins_file or PINS_FILE
        self.key = f"{name}-{version}"
        self.root = cache_root() / "artifacts" / self.key
        self.lib = self.root / "lib"
        self.marker = self.root / "complete.json"

    def fingerprint(self) -> str:
        return hashlib.sha256(self.pom.read_bytes() + self.version.encode()).hexdigest()

    def complete(self) -> bool:
        try:
            info = json.loads(self.marker.read_text())
        except (OSError, ValueError):
            return False
        if info.get("pom_sha256") != self.fingerprint():
            return False
        return all((self.lib / jar).is_file() for jar in info.get("jars", [])) and bool(info.get("jars"))

    def jars(self) -> list[Path]:
        return sorted(self.lib.glob("*.jar"))

    def classpath(self) -> str:
        return os.pathsep.join(str(j) for j in self.jars())

    def pins(self) -> dict[str, tuple[str, str]]:
        pins = read_pins(self.pins_file).get(self.key)
        if not pins:
            raise ChecksumError(
                f"{self.key}: no pinned checksums in {self.pins_file}, so its jars cannot be verified.\n"
                f"If you changed the {self.name} version on purpose, pin it with "
                f"`scripts/services pin {self.name}`, review the diff and commit it."
            )
        return pins

    def verify(self, lib: Path | None = None, *, downloaded: bool = False) -> int:
        """Check every jar of `lib` (default: the cache) against the pins; returns the jar count.

        Raises ChecksumError naming each jar that is unpinned, missing or different, with
        what to do about it.
        """
        lib = lib or self.lib
        pins = self.pins()
        seen = tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in lib.glob("*.jar")))
        memo = (str(lib.resolve()), self.key, sha256_file(self.pins_file), seen)
        if memo in _VERIFIED:
            return len(seen)
        problems, mismatch = jar_problems(lib, pins)
        if not problems:
            _VERIFIED.add(memo)
            return len(seen)
        where = "just downloaded by Maven into" if downloaded else "taken from the cache"
        lines = [f"{self.name} {self.version}: jars {where} {lib} do not match {self.pins_file}:"]
        lines += [f"  - {p}" for p in problems]
        if downloaded:
            lines.append(
                f"Maven copies jars from its local repository ({M2_HINT}), which may hold a bad copy: "
                "delete the folders of the jars named above there and run the command again."
            )
        else:
            lines.append(f"Delete the cache folder to download them again: rm -rf {self.root}")
        if mismatch:
            lines.append(
                "If the mismatch repeats after a fresh download, the artifact changed upstream (or was "
                "altered on the way): stop, do not run it, and find out why."
            )
        else:
            lines.append(
                f"If you changed the pom or the version on purpose, run `scripts/services pin {self.name}`, "
                "review the diff and commit it."
            )
        raise ChecksumError("\n".join(lines))

    def maven(self) -> str:
        mvn = shutil.which("mvn")
        if not mvn:
            raise ServiceError(
                f"{self.name} {self.version} is not cached yet ({self.lib}) and `mvn` is not on PATH, "
                f"so it cannot be fetched from Maven Central.\nInstall Maven with: apt-get install -y maven"
            )
        return mvn

    def run_maven(self, java: Path, *goal: str) -> None:
        """Run Maven on the pom in strict checksum mode (a download whose .sha1 differs fails)."""
        cmd = [
            self.maven(),
            "-q",
            "-B",
            "--strict-checksums",
            "-f",
            str(self.pom),
            f"-D{self.version_property}={self.version}",
            *goal,
            "-DincludeScope=runtime",
        ]
        env = dict(os.environ)
        env.setdefault("JAVA_HOME", str(java.resolve().parent.parent))
        self.root.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(cmd, check=False, cwd=self.root, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            out = (proc.stdout + proc.stderr).strip().splitlines()[-30:]
            raise ServiceError(
                f"Maven could not resolve {self.name} {self.version} (exit {proc.returncode}):\n  "
                + "\n  ".join(out)
                + f"\nCommand: {' '.join(cmd)}"
            )

    def ensure(self, java: Path) -> bool:
        """Download if needed, and verify the jars either way.  Returns True if Maven ran."""
        if self.complete():
            self.verify()
            return False
        self.pins()  # no pins, no download: say so before a long Maven run
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="lib.", dir=self.root))
        say(f"{self.name}: fetching {self.name} {self.version} + runtime dependencies from Maven Central ...")
        t0 = time.monotonic()
        try:
            self.run_maven(java, "dependency:copy-dependencies", f"-DoutputDirectory={tmp}")
            jars = sorted(p.name for p in tmp.glob("*.jar"))
            if not jars:
                raise ServiceError(f"Maven resolved no jars for {self.name} {self.version}")
            self.verify(tmp, downloaded=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if self.lib.exists():
            shutil.rmtree(self.lib)
        tmp.rename(self.lib)
        self.marker.write_text(
            json.dumps(
                {"name": self.name, "version": self.version, "pom_sha256": self.fingerprint(), "jars": jars},
                indent=1,
            )
        )
        size, count = dir_size(self.lib)
        say(
            f"{self.name}: {count} jars, {human_size(size)} in {time.monotonic() - t0:.1f}s, "
            f"checksums verified -> {self.lib}"
        )
        return True

    def resolved(self, java: Path) -> list[tuple[str, Path]]:
        """(coordinates, file in Maven's local repository) of every runtime jar, via Maven."""
        with tempfile.TemporaryDirectory(prefix="kafkapipeline-pin.") as tmp:
            listing = Path(tmp) / "dependencies.txt"
            self.run_maven(
                java, "dependency:list", "-DoutputAbsoluteArtifactFilename=true", f"-DoutputFile={listing}"
            )
            return parse_dependency_list(listing.read_text())

    def pin(self, java: Path) -> int:
        """Rewrite this version's lines of the pins file from Maven's verified downloads."""
        entries = []
        for coordinates, path in self.resolved(java):
            entries.append((coordinates, sha256_checked_against_sha1(path)))
        if not entries:
            raise ServiceError(f"Maven resolved no jars for {self.name} {self.version}")
        write_pins(self.pins_file, self.key, entries)
        return len(entries)


def parse_dependency_list(text: str) -> list[tuple[str, Path]]:
    """Entries of ``mvn dependency:list -DoutputAbsoluteArtifactFilename=true``'s output file.

    A line is ``group:artifact:type[:classifier]:version:scope:/path`` and may end with
    `` -- module <name>`` or `` (optional)``.
    """
    entries = []
    for raw in text.splitlines():
        head, sep, rest = raw.strip().partition(":/")
        if not sep:
            continue
        path = re.sub(r"\s+--\s+module\s.*$", "", "/" + rest)
        path = re.sub(r"\s+\(optional\)$", "", path).strip()
        fields = head.split(":")
        if len(fields) == 5:
            group, artifact, kind, version, _scope = fields
            classifier = ""
        elif len(fields) == 6:
            group, artifact, kind, classifier, version, _scope = fields
        else:
            raise ServiceError(f"cannot read Maven's dependency list line {raw.strip()!r}")
        if kind != "jar":
            raise ServiceError(
                f"{group}:{artifact}:{version} is a {kind!r}, not a jar; pin only handles jars"
            )
        coordinates = ":".join([group, artifact, version, *([classifier] if classifier else [])])
        entries.append((coordinates, Path(path)))
    return sorted(entries)


def sha256_checked_against_sha1(jar: Path) -> str:
    """SHA-256 of a jar in Maven's local repository, once its SHA-1 matches the .sha1 beside it.

    So a pin never records a jar changed in the local repository after Maven verified its download.
    """
    sha1_file = jar.with_name(jar.name + ".sha1")
    try:
        published = sha1_file.read_text().split()[0].lower()
    except (OSError, IndexError):
        raise ChecksumError(
            f"{jar} has no readable {sha1_file.name} from Maven Central to check it against: delete "
            f"{jar.parent} and run `scripts/services pin` again so Maven downloads it afresh"
        ) from None
    sha1 = hashlib.sha1()
    with open(jar, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha1.update(chunk)
    if sha1.hexdigest() != published:
        raise ChecksumError(
            f"{jar} does not match the SHA-1 Maven Central published for it\n"
            f"      expected sha1 {published}\n      actual   sha1 {sha1.hexdigest()}\n"
            f"Delete {jar.parent} and run `scripts/services pin` again; if it repeats, the artifact "
            "changed upstream: stop and find out why."
        )
    return sha256_file(jar)


def write_pins(pins_file: Path, key: str, entries: list[tuple[str, str]]) -> None:
    """Replace `key`'s lines in the pins file, keeping other services' and versions' lines."""
    kept = []
    if pins_file.exists():
        for raw in pins_file.read_text().splitlines():
            line = raw.strip()
            if line and not line.startswith("#") and line.split()[0] != key:
                kept.append(line.split())
    rows = sorted(kept + [[key, coordinates, digest] for coordinates, digest in entries])
    width_key = max(len(r[0]) for r in rows)
    width_coordinates = max(len(r[1]) for r in rows)
    body = "".join(f"{r[0]:<{width_key}}  {r[1]:<{width_coordinates}}  {r[2]}\n" for r in rows)
    tmp = pins_file.with_name(pins_file.name + ".tmp")
    tmp.write_text(PINS_HEADER + body)
    tmp.replace(pins_file)


def kafka_artifacts() -> Artifacts:
    return Artifacts("kafka", KAFKA_VERSION, CONF_DIR / "kafka-pom.xml", "kafka.version")


def cassandra_artifacts() -> Artifacts:
    return Artifacts("cassandra", CASSANDRA_VERSION, CONF_DIR / "cassandra-pom.xml", "cassandra.version")
