"""scripts/services runs only jars whose SHA-256 is pinned in the repository.

The verification runs on temporary caches built here (no service is started or stopped).
Maven is replaced by a small fake ``mvn`` on PATH that copies or lists the jars a test
chose: what is tested is how scripts/services treats what Maven hands it.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "services"


def _load_script_module():
    loader = importlib.machinery.SourceFileLoader("kafkapipeline_services_checksums", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


services = _load_script_module()

VERSION = "9.9.9"
KEY = f"kafka-{VERSION}"
JARS = {
    "org.example:alpha:1.0": b"alpha jar bytes",
    "org.example:beta:2.1": b"beta jar bytes",
    "io.netty:netty-native:4.1:linux-x86_64": b"native jar bytes",
}
NO_JAVA = Path("/nonexistent/bin/java")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pin_lines(key: str, jars: dict[str, bytes]) -> str:
    return "".join(f"{key}  {coordinates}  {sha256(data)}\n" for coordinates, data in jars.items())


@pytest.fixture
def fake_mvn(tmp_path, monkeypatch):
    """A `mvn` on PATH: copies FAKE_MVN_JARS into -DoutputDirectory, writes FAKE_MVN_LISTING to
    -DoutputFile, and appends its arguments to FAKE_MVN_LOG."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mvn = bin_dir / "mvn"
    mvn.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(
            """
            import os, shutil, sys
            from pathlib import Path
            with open(os.environ["FAKE_MVN_LOG"], "a") as log:
                log.write(" ".join(sys.argv[1:]) + "\\n")
            for arg in sys.argv[1:]:
                if arg.startswith("-DoutputDirectory="):
                    for jar in Path(os.environ["FAKE_MVN_JARS"]).glob("*.jar"):
                        shutil.copy(jar, arg.split("=", 1)[1])
                if arg.startswith("-DoutputFile="):
                    Path(arg.split("=", 1)[1]).write_text(os.environ["FAKE_MVN_LISTING"])
            """
        )
    )
    mvn.chmod(0o755)
    log = tmp_path / "mvn.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_MVN_LOG", str(log))
    return log


@pytest.fixture
def artifacts(tmp_path, monkeypatch):
    """Artifacts of a made-up Kafka version, in a temporary cache, pinned in a temporary file."""
    monkeypatch.setenv("KAFKAPIPELINE_CACHE", str(tmp_path / "cache"))
    pom = tmp_path / "pom.xml"
    pom.write_text("<project/>")
    pins = tmp_path / "artifacts.sha256"
    pins.write_text("# pins\n" + pin_lines(KEY, JARS) + pin_lines("cassandra-1.0", {"x:y:1": b"y"}))
    return services.Artifacts("kafka", VERSION, pom, "kafka.version", pins_file=pins)


def fill_cache(arts, jars: dict[str, bytes]) -> None:
    """A cache as a finished download leaves it: the jars and the completion marker."""
    arts.lib.mkdir(parents=True)
    for coordinates, data in jars.items():
        (arts.lib / services.jar_name(coordinates)).write_bytes(data)
    arts.marker.write_text(
        json.dumps({"pom_sha256": arts.fingerprint(), "jars": sorted(p.name for p in arts.lib.glob("*.jar"))})
    )


# --- the cache ---------------------------------------------------------------------------


def test_good_cache_passes_without_maven(artifacts, fake_mvn):
    fill_cache(artifacts, JARS)
    assert artifacts.ensure(NO_JAVA) is False
    assert not fake_mvn.exists(), "a complete, matching cache must not run Maven"
    assert artifacts.verify() == len(JARS)


def test_tampered_jar_in_cache_is_refused(artifacts):
    fill_cache(artifacts, JARS)
    jar = artifacts.lib / "beta-2.1.jar"
    jar.write_bytes(b"beta jar bytes, with a backdoor")

    with pytest.raises(services.ChecksumError) as raised:
        artifacts.ensure(NO_JAVA)
    message = str(raised.value)
    assert "beta-2.1.jar (org.example:beta:2.1): checksum mismatch" in message
    assert f"expected sha256 {sha256(JARS['org.example:beta:2.1'])}" in message
    assert f"actual   sha256 {sha256(jar.read_bytes())}" in message
    assert f"rm -rf {artifacts.root}" in message
    assert "changed upstream" in message
    # The good jars are not reported.
    assert "alpha" not in message


def test_jar_changed_after_a_successful_check_is_refused(artifacts):
    fill_cache(artifacts, JARS)
    artifacts.verify()
    jar = artifacts.lib / "alpha-1.0.jar"
    jar.write_bytes(b"ALPHA JAR BYTES")  # same size, other bytes
    stat = jar.stat()
    os.utime(jar, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    with pytest.raises(services.ChecksumError, match=re.escape("alpha-1.0.jar")):
        artifacts.verify()


def test_jar_without_a_pin_is_refused(artifacts):
    fill_cache(artifacts, {**JARS, "org.example:smuggled:0.1": b"extra"})
    with pytest.raises(services.ChecksumError) as raised:
        artifacts.ensure(NO_JAVA)
    message = str(raised.value)
    assert "smuggled-0.1.jar: no pinned checksum" in message
    assert "scripts/services pin kafka" in message


def test_pinned_jar_missing_from_cache_is_refused(artifacts):
    fill_cache(artifacts, JARS)
    (artifacts.lib / "netty-native-4.1-linux-x86_64.jar").unlink()
    with pytest.raises(
        services.ChecksumError, match=r"netty-native-4.1-linux-x86_64.jar .*pinned but missing"
    ):
        artifacts.verify()


def test_version_without_pins_is_refused_before_maven_runs(artifacts, fake_mvn):
    artifacts.pins_file.write_text(pin_lines("cassandra-1.0", {"x:y:1": b"y"}))
    with pytest.raises(services.ChecksumError) as raised:
        artifacts.ensure(NO_JAVA)
    assert f"{KEY}: no pinned checksums in {artifacts.pins_file}" in str(raised.value)
    assert "scripts/services pin kafka" in str(raised.value)
    assert not fake_mvn.exists()


def test_malformed_pin_line_is_reported_with_its_line_number(artifacts):
    artifacts.pins_file.write_text(
        "# header\n" + pin_lines(KEY, JARS) + f"{KEY} org.example:gamma:1 nothex\n"
    )
    with pytest.raises(services.ChecksumError, match=rf"artifacts.sha256:{len(JARS) + 2}: "):
        artifacts.verify()


# --- downloads ---------------------------------------------------------------------------


def maven_jars(tmp_path, jars: dict[str, bytes], monkeypatch) -> None:
    source = tmp_path / "maven-output"
    source.mkdir()
    for coordinates, data in jars.items():
        (source / services.jar_name(coordinates)).write_bytes(data)
    monkeypatch.setenv("FAKE_MVN_JARS", str(source))


def test_download_runs_maven_in_strict_checksum_mode_and_verifies(artifacts, fake_mvn, tmp_path, monkeypatch):
    maven_jars(tmp_path, JARS, monkeypatch)
    assert artifacts.ensure(NO_JAVA) is True
    (call,) = fake_mvn.read_text().splitlines()
    assert "--strict-checksums" in shlex.split(call)
    assert sorted(p.name for p in artifacts.jars()) == sorted(services.jar_name(c) for c in JARS)
    assert artifacts.complete()


def test_tampered_download_is_refused_and_not_cached(artifacts, fake_mvn, tmp_path, monkeypatch):
    maven_jars(tmp_path, {**JARS, "org.example:alpha:1.0": b"not the pinned alpha"}, monkeypatch)
    with pytest.raises(services.ChecksumError) as raised:
        artifacts.ensure(NO_JAVA)
    message = str(raised.value)
    assert "just downloaded by Maven" in message
    assert "alpha-1.0.jar (org.example:alpha:1.0): checksum mismatch" in message
    assert "~/.m2/repository" in message
    assert not artifacts.lib.exists()
    assert not list(artifacts.root.glob("lib.*")), "the rejected download must be deleted"
    assert not artifacts.complete()


# --- pinning -----------------------------------------------------------------------------


def local_repository(tmp_path, jars: dict[str, bytes]) -> str:
    """Jars with their .sha1 as Maven keeps them, and the dependency:list output naming them."""
    lines = ["", "The following files have been resolved:"]
    for coordinates, data in jars.items():
        group, artifact, version, *classifier = coordinates.split(":")
        folder = tmp_path / "m2" / group.replace(".", "/") / artifact / version
        folder.mkdir(parents=True)
        jar = folder / services.jar_name(coordinates)
        jar.write_bytes(data)
        (folder / f"{jar.name}.sha1").write_text(hashlib.sha1(data).hexdigest())
        kind = ":".join(["jar", *classifier])
        lines.append(f"   {group}:{artifact}:{kind}:{version}:runtime:{jar} -- module {artifact} (auto)")
    return "\n".join(lines) + "\n"


def test_pin_writes_the_resolved_jars_and_keeps_other_pins(artifacts, fake_mvn, tmp_path, monkeypatch):
    artifacts.pins_file.write_text(
        pin_lines(KEY, {"org.example:old:0.1": b"old"}) + "cassandra-1.0  x:y:1  " + sha256(b"y") + "\n"
    )
    monkeypatch.setenv("FAKE_MVN_LISTING", local_repository(tmp_path, JARS))

    assert artifacts.pin(NO_JAVA) == len(JARS)

    (call,) = fake_mvn.read_text().splitlines()
    assert "--strict-checksums" in shlex.split(call)
    pins = services.read_pins(artifacts.pins_file)
    assert pins[KEY] == {services.jar_name(c): (c, sha256(data)) for c, data in JARS.items()}
    assert pins["cassandra-1.0"] == {"y-1.jar": ("x:y:1", sha256(b"y"))}
    fill_cache(artifacts, JARS)
    assert artifacts.verify() == len(JARS)


def test_pin_refuses_a_jar_that_differs_from_its_published_sha1(artifacts, fake_mvn, tmp_path, monkeypatch):
    before = artifacts.pins_file.read_text()
    monkeypatch.setenv("FAKE_MVN_LISTING", local_repository(tmp_path, JARS))
    jar = next((tmp_path / "m2").rglob("beta-2.1.jar"))
    jar.write_bytes(b"changed in the local repository")

    with pytest.raises(services.ChecksumError) as raised:
        artifacts.pin(NO_JAVA)
    assert f"{jar} does not match the SHA-1 Maven Central published" in str(raised.value)
    assert artifacts.pins_file.read_text() == before


def test_pin_refuses_a_jar_without_its_sha1(artifacts, fake_mvn, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_MVN_LISTING", local_repository(tmp_path, JARS))
    next((tmp_path / "m2").rglob("alpha-1.0.jar.sha1")).unlink()
    with pytest.raises(services.ChecksumError, match=r"alpha-1.0.jar has no readable alpha-1.0.jar.sha1"):
        artifacts.pin(NO_JAVA)


def test_dependency_list_lines_become_coordinates():
    text = (
        "The following files have been resolved:\n"
        "   org.apache.kafka:kafka_2.13:jar:4.1.1:compile:/m2/kafka_2.13-4.1.1.jar -- module kafka\n"
        "   io.netty:netty-tcnative:jar:linux-x86_64:2.0.70.Final:compile:/m2/n.jar (optional)\n"
        "   org.lz4:lz4-java:jar:1.8.0:runtime:/m2/lz4-java-1.8.0.jar\n"
        "\n"
    )
    assert services.parse_dependency_list(text) == [
        ("io.netty:netty-tcnative:2.0.70.Final:linux-x86_64", Path("/m2/n.jar")),
        ("org.apache.kafka:kafka_2.13:4.1.1", Path("/m2/kafka_2.13-4.1.1.jar")),
        ("org.lz4:lz4-java:1.8.0", Path("/m2/lz4-java-1.8.0.jar")),
    ]
    assert services.jar_name("io.netty:netty-tcnative:2.0.70.Final:linux-x86_64") == (
        "netty-tcnative-2.0.70.Final-linux-x86_64.jar"
    )


# --- the pins in the repository ----------------------------------------------------------


@pytest.mark.parametrize("factory", ["kafka_artifacts", "cassandra_artifacts"])
def test_repository_pins_cover_the_default_versions(factory, monkeypatch):
    for name in ("KAFKA_VERSION", "CASSANDRA_VERSION"):
        monkeypatch.delenv(name, raising=False)
    arts = getattr(services, factory)()
    assert arts.pins_file == REPO / "scripts" / "services.d" / "artifacts.sha256"
    pins = arts.pins()
    main_jar = {"kafka": "org.apache.kafka:kafka_2.13", "cassandra": "org.apache.cassandra:cassandra-all"}
    assert f"{main_jar[arts.name]}:{arts.version}" in {coordinates for coordinates, _ in pins.values()}


@pytest.mark.parametrize("factory", ["kafka_artifacts", "cassandra_artifacts"])
def test_cached_artifacts_match_the_repository_pins(factory):
    arts = getattr(services, factory)()
    if not arts.complete():
        pytest.skip(f"no complete artifact cache at {arts.root} (scripts/services up downloads it)")
    assert arts.verify() == len(arts.jars())


# --- output to a closed pipe -------------------------------------------------------------


def test_closed_stdout_ends_quietly(tmp_path):
    """`scripts/services logs | head -1` and the like: no BrokenPipeError traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to stdout now fails with EPIPE
    try:
        proc = subprocess.run(
            [sys.executable, str(SCRIPT), "logs"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            env={**os.environ, "KAFKAPIPELINE_STATE": str(tmp_path / "state")},
            check=False,
        )
    finally:
        os.close(write_end)
    assert proc.stderr == ""
    assert proc.returncode == 141


def test_broken_pipe_elsewhere_is_not_hidden(monkeypatch):
    """Only a closed stdout ends quietly: a BrokenPipeError from anything else still fails."""

    def broken_socket(*_args):
        raise BrokenPipeError("a socket closed by the peer")

    monkeypatch.setattr(services.cli, "cmd_logs", broken_socket)
    with pytest.raises(BrokenPipeError, match="socket closed"):
        services.main(["logs"])
