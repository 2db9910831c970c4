"""scripts/services --cluster: member config (quorum, replication, addresses) without starting a JVM."""

from __future__ import annotations

import string
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"
sys.path.insert(0, str(SCRIPTS))

from services_lib import cluster  # noqa: E402
from services_lib.common import CONF_DIR, ServiceError  # noqa: E402

ADDRS = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
PORT_VARIABLES = (
    "KAFKA_PORT",
    "KAFKA_CONTROLLER_PORT",
    "CASSANDRA_PORT",
    "CASSANDRA_STORAGE_PORT",
    "CASSANDRA_SSL_STORAGE_PORT",
    "CASSANDRA_JMX_PORT",
)


@pytest.fixture(autouse=True)
def default_ports(monkeypatch):
    """The figures below are the default ports; a developer's own port overrides must not leak in."""
    for name in PORT_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_addresses_default_and_validation(monkeypatch):
    monkeypatch.delenv("KAFKAPIPELINE_CLUSTER_ADDRESSES", raising=False)
    assert cluster.cluster_addresses() == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    monkeypatch.setenv("KAFKAPIPELINE_CLUSTER_ADDRESSES", " 127.0.0.2, 127.0.0.3,127.0.0.4 ")
    assert cluster.cluster_addresses() == ADDRS
    for bad in ("127.0.0.2,127.0.0.3", "127.0.0.2,127.0.0.2,127.0.0.3", "a,b,c"):
        monkeypatch.setenv("KAFKAPIPELINE_CLUSTER_ADDRESSES", bad)
        with pytest.raises(ServiceError):
            cluster.cluster_addresses()


def test_kafka_member_properties(tmp_path, monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_STATE", str(tmp_path))
    monkeypatch.delenv("KAFKAPIPELINE_KAFKA_ADMIN_PASSWORD", raising=False)
    node = cluster.KafkaNode(tmp_path / "cluster", 2, ADDRS[1], ADDRS)
    text = node.rendered_properties()
    props = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == "1@127.0.0.2:9093,2@127.0.0.3:9093,3@127.0.0.4:9093"
    assert "controller.quorum.bootstrap.servers" not in props
    assert props["listeners"] == (
        "CLIENT://127.0.0.3:9092,INTERNAL://127.0.0.3:9094,CONTROLLER://127.0.0.3:9093"
    )
    # Every listener authenticates; the super user's password is the generated one, and only here.
    assert set(props["listener.security.protocol.map"].split(",")) == {
        "CLIENT:SASL_PLAINTEXT",
        "INTERNAL:SASL_PLAINTEXT",
        "CONTROLLER:SASL_PLAINTEXT",
    }
    assert props["listener.name.client.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["auto.create.topics.enable"] == "false"
    password = (tmp_path / "secrets" / "kafka-admin.password").read_text().strip()
    assert f'password="{password}"' in props["listener.name.internal.plain.sasl.jaas.config"]
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"
    assert node.format_args() == []
    assert node.home == tmp_path / "cluster" / "kafka-2"
    assert node.endpoint() == "127.0.0.3:9092"


def test_kafka_members_share_one_cluster_id(tmp_path):
    a, b = (cluster.KafkaNode(tmp_path / "cluster", i, ADDRS[i - 1], ADDRS) for i in (1, 2))
    assert a.cluster_id() == b.cluster_id()


def test_cassandra_member_yaml_and_ports(tmp_path):
    node = cluster.CassandraNode(tmp_path / "cluster", 3, ADDRS[2], ADDRS)
    tmpl = string.Template((CONF_DIR / "cassandra.yaml.tmpl").read_text())
    text = node.cassandra_yaml(
        tmpl.substitute(host=node.host, port=9042, storage_port=7000, ssl_storage_port=7001, data_dir="/d")
    )
    assert 'seeds: "127.0.0.2:7000,127.0.0.3:7000,127.0.0.4:7000"' in text
    assert "listen_address: 127.0.0.4" in text and "rpc_address: 127.0.0.4" in text
    assert "auto_bootstrap: false" in text and "cluster_name: kafkapipeline-cluster" in text
    binds = node.bind_addresses()
    assert binds["CASSANDRA_PORT"] == ("127.0.0.4", 9042)
    assert binds["CASSANDRA_JMX_PORT"] == ("127.0.0.1", 7400)  # ccm-like 7000 + 100 * last octet


def test_members_only_for_kafka_and_cassandra(tmp_path, monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_CLUSTER_ADDRESSES", ",".join(ADDRS))
    names = [m.name for m in cluster.cluster_members(tmp_path, [])]
    assert names == ["kafka-1", "kafka-2", "kafka-3", "cassandra-1", "cassandra-2", "cassandra-3"]
    with pytest.raises(ServiceError, match="postgres"):
        cluster.cluster_members(tmp_path, ["postgres"])


def test_nodetool_runs_the_jar_class_against_the_members_jmx_port(tmp_path):
    node = cluster.CassandraNode(tmp_path / "cluster", 1, "127.0.0.2", ADDRS)
    cmd = cluster.nodetool_command(node, ["repair", "-full", "ks"])
    at = cmd.index("org.apache.cassandra.tools.NodeTool")
    # JMX takes a login: nodetool's user, its password read from the node's 0600 file (never argv).
    password_file = str(node.config / "jmxremote.password")
    assert cmd[at + 1 :] == [
        "-h", "127.0.0.1", "-p", "7200", "-u", "nodetool", "-pwf", password_file, "repair", "-full", "ks"
    ]  # fmt: skip
    assert "java.base/sun.nio.ch=ALL-UNNAMED" in cmd  # NodeTool fails on Java 17 without the JPMS flags
