"""scripts/services' metrics services: what they listen on, their login, their config, and the JVMs' agent,
checked without starting them (tests/e2e/test_metrics_e2e.py runs them for real)."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import stat
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"
sys.path.insert(0, str(SCRIPTS))

from services_lib import cli, jmx_exporter, prometheus  # noqa: E402
from services_lib.cassandra import Cassandra  # noqa: E402
from services_lib.common import ServiceError  # noqa: E402
from services_lib.kafka import Kafka  # noqa: E402
from services_lib.statsd_exporter import StatsdExporter  # noqa: E402

PORTS = (
    "PROMETHEUS_PORT",
    "STATSD_EXPORTER_PORT",
    "KAFKAPIPELINE_STATSD_PORT",
    "KAFKA_METRICS_PORT",
    "CASSANDRA_METRICS_PORT",
    "KAFKAPIPELINE_CLUSTER",
    "KAFKAPIPELINE_JMX_EXPORTER",
    "KAFKAPIPELINE_PROMETHEUS_PASSWORD",
)


@pytest.fixture
def state(tmp_path, monkeypatch) -> Path:
    for name in PORTS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAFKAPIPELINE_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("KAFKAPIPELINE_CACHE", str(tmp_path / "cache"))
    (tmp_path / "state").mkdir()
    return tmp_path / "state"


def crypt(password: str, hashed: str) -> str:
    lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    return lib.crypt(password.encode(), hashed.encode()).decode()


def test_both_are_services_of_scripts_services():
    assert cli.SERVICES["statsd-exporter"] is StatsdExporter
    assert cli.SERVICES["prometheus"] is prometheus.Prometheus


def test_prometheus_listens_on_loopback_with_a_login_whose_password_is_only_hashed(state):
    svc = prometheus.Prometheus(state)
    svc.binary = "/usr/bin/prometheus"
    svc.home.mkdir(parents=True)
    svc.prepare()
    command = svc.command()
    assert "--web.listen-address=127.0.0.1:9090" in command
    assert f"--web.config.file={svc.web_config}" in command
    password = (state / "secrets" / "prometheus.password").read_text().strip()
    web = json.loads(svc.web_config.read_text())
    hashed = web["basic_auth_users"]["prometheus"]
    assert hashed.startswith("$2b$") and password not in svc.web_config.read_text()
    assert crypt(password, hashed) == hashed  # the hash is of that password
    for path in (svc.web_config, svc.config, svc.password_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert svc.owns(command) and not prometheus.Prometheus(state.parent / "other").owns(command)
    assert " ".join(command).count(password) == 0, "no password on the command line"


def test_prometheus_scrapes_the_bridge_the_agents_and_itself_behind_its_login(state):
    svc = prometheus.Prometheus(state)
    config = prometheus.prometheus_config(svc.password_file, svc.rules)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = {name: job["static_configs"][0]["targets"] for name, job in jobs.items()}
    assert targets == {
        "statsd-exporter": ["127.0.0.1:9102"],
        "kafka": ["127.0.0.1:9404"],
        "cassandra": ["127.0.0.1:9405"],
        "prometheus": ["127.0.0.1:9090"],
    }
    assert jobs["prometheus"]["basic_auth"] == {
        "username": "prometheus",
        "password_file": str(svc.password_file),
    }
    assert config["rule_files"] == [str(svc.rules)]


def test_on_a_cluster_every_member_is_scraped(state, monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_CLUSTER", "1")
    monkeypatch.setenv("KAFKAPIPELINE_CLUSTER_ADDRESSES", "127.0.0.2,127.0.0.3,127.0.0.4")
    targets = prometheus.scrape_targets()
    assert targets["kafka"] == ["127.0.0.2:9404", "127.0.0.3:9404", "127.0.0.4:9404"]
    assert targets["cassandra"] == ["127.0.0.2:9405", "127.0.0.3:9405", "127.0.0.4:9405"]


def test_without_the_agents_only_the_bridge_is_scraped(state, monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_JMX_EXPORTER", "0")
    assert set(prometheus.scrape_targets()) == {"statsd-exporter"}
    monkeypatch.setenv("KAFKAPIPELINE_JMX_EXPORTER", "yes")
    with pytest.raises(ServiceError, match="KAFKAPIPELINE_JMX_EXPORTER='yes'"):
        prometheus.scrape_targets()


def test_the_statsd_exporter_listens_on_loopback_only(state, monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_STATSD_PORT", "9999")
    svc = StatsdExporter(state)
    svc.binary = Path("/x/statsd_exporter")
    command = svc.command()
    assert "--statsd.listen-udp=127.0.0.1:9999" in command
    assert "--statsd.listen-tcp=" in command
    assert "--web.listen-address=127.0.0.1:9102" in command
    assert svc.owns(command) and not StatsdExporter(state.parent / "other").owns(command)
    assert svc.built_binary().parent.name == "statsd_exporter-v0.31.0"


def test_a_missing_go_says_how_to_get_the_exporter(state, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("STATSD_EXPORTER_BIN", raising=False)
    monkeypatch.setattr("services_lib.statsd_exporter.GO_FALLBACK", state / "no-go")
    with pytest.raises(ServiceError, match=r"no `go`.*STATSD_EXPORTER_BIN"):
        StatsdExporter(state).ensure_installed()


def fake_agent(state: Path) -> Path:
    lib = jmx_exporter.jmx_exporter_artifacts().lib
    lib.mkdir(parents=True)
    jar = lib / "jmx_prometheus_javaagent-1.0.1.jar"
    jar.write_bytes(b"")
    return jar


@pytest.mark.parametrize(
    ("cls", "rules", "port"), [(Kafka, "jmx-kafka.yml", 9404), (Cassandra, "jmx-cassandra.yml", 9405)]
)
def test_the_jvms_load_the_agent_on_their_own_address(state, cls, rules, port):
    jar = fake_agent(state)
    svc = cls(state)
    options = jmx_exporter.agent_options(svc.host, svc.metrics_port, rules)
    assert options == [f"-javaagent:{jar}=127.0.0.1:{port}:{SCRIPTS / 'services.d' / rules}"]
    assert port in svc.all_ports().values()  # checked free before the JVM starts


def test_the_agent_can_be_switched_off(state, monkeypatch):
    fake_agent(state)
    monkeypatch.setenv("KAFKAPIPELINE_JMX_EXPORTER", "0")
    assert jmx_exporter.agent_options("127.0.0.1", 9404, "jmx-kafka.yml") == []
    assert 9404 not in Kafka(state).all_ports().values()


def test_the_agent_is_pinned_like_the_jars():
    arts = jmx_exporter.jmx_exporter_artifacts()
    pins = arts.pins()
    assert list(pins) == [f"jmx_prometheus_javaagent-{jmx_exporter.JMX_EXPORTER_VERSION}.jar"]
