"""Cluster mode (``scripts/services up --cluster``): 3 Kafka brokers and 3 Cassandra nodes.

One member of each per loopback address (``KAFKAPIPELINE_CLUSTER_ADDRESSES``), on the single node's
ports, as ccm does; their files live in ``<state>/cluster``. Kafka nodes are combined broker+controllers
in a static KRaft quorum (separate controllers would double the JVMs for nothing the tests prove: losing
one still leaves 2 of 3); RF 3, min ISR 2. Cassandra nodes are all seeds without bootstrap, so all start
at once, each with its own JMX port (7000 + 100 * last octet: Cassandra 5.0 binds JMX to 127.0.0.1).
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import time
import uuid
from pathlib import Path

from .artifacts import Artifacts
from .cassandra import CASSANDRA_JVM17_OPTS, JMX_USER, Cassandra
from .common import CONF_DIR, ServiceError, markers_of, port_free, port_owner
from .kafka import Kafka
from .probes import cql_query

DEFAULT_ADDRESSES = "127.0.0.1,127.0.0.2,127.0.0.3"
KAFKA_CLUSTER_HEAP = os.environ.get("KAFKA_CLUSTER_HEAP", "512M")
CASSANDRA_CLUSTER_HEAP = os.environ.get("CASSANDRA_CLUSTER_HEAP", "768M")


def cluster_addresses() -> list[str]:
    """The members' loopback addresses, checked: distinct IPv4 addresses, at least 3, odd."""
    raw = os.environ.get("KAFKAPIPELINE_CLUSTER_ADDRESSES", "") or DEFAULT_ADDRESSES
    addrs = [a.strip() for a in raw.split(",") if a.strip()]
    for a in addrs:
        try:
            ipaddress.IPv4Address(a)
        except ValueError:
            raise ServiceError(f"KAFKAPIPELINE_CLUSTER_ADDRESSES: {a!r} is not an IPv4 address") from None
    if len(set(addrs)) != len(addrs) or len(addrs) < 3 or len(addrs) % 2 == 0:
        raise ServiceError(
            f"KAFKAPIPELINE_CLUSTER_ADDRESSES={raw!r}: need an odd number (3 or more) of distinct "
            "addresses (a KRaft quorum and QUORUM writes need a majority)"
        )
    return addrs


def set_properties(text: str, values: dict[str, object], sep: str = "=") -> str:
    """Replace ``key<sep>value`` lines of a rendered config (None drops the key); append new keys."""
    for key, value in values.items():
        pattern = re.compile(rf"^{re.escape(key)}{re.escape(sep)}.*$", re.M)
        line = "" if value is None else f"{key}{sep}{value}"
        if pattern.search(text):
            text = pattern.sub(line, text)
        elif value is not None:
            text = text.rstrip("\n") + f"\n{line}\n"
    return text


class ClusterMember:
    """What a member adds to its single-node class: its own address, name and folders."""

    index = 0
    base_name = ""

    def member_init(self, index: int, host: str) -> None:
        self.index, self.host = index, host
        self.name = f"{self.base_name}-{index}"  # type: ignore[attr-defined]

    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"  # type: ignore[attr-defined]

    def bind_addresses(self) -> dict[str, tuple[str, int]]:
        return {var: (self.host, port) for var, port in self.all_ports().items()}  # type: ignore[attr-defined]

    def check_ports_free(self) -> None:
        for var, (host, port) in self.bind_addresses().items():
            if not port_free(port, host):
                raise ServiceError(
                    f"{self.name}: {host}:{port} ({var}) is already in use by {port_owner(port)}; "  # type: ignore[attr-defined]
                    "stop it or choose other KAFKAPIPELINE_CLUSTER_ADDRESSES"
                )

    def owns(self, args: list[str]) -> bool:
        # By state folder only: another cluster's kafka-1 uses the same port on another address.
        marks = markers_of(args)
        return marks.get("service") == self.name and marks.get("state") == str(self.state)  # type: ignore[attr-defined]


class KafkaNode(ClusterMember, Kafka):
    base_name = "kafka"

    def __init__(self, cluster_state: Path, index: int, host: str, voters: list[str]):
        self.member_init(index, host)
        super().__init__(cluster_state)
        self.name = f"kafka-{index}"
        self.voters = voters

    def cluster_id(self) -> str:
        # One id for the whole cluster, shared by every member's StorageTool format.
        f = self.state / "kafka-cluster-id"
        if not f.exists():
            f.parent.mkdir(parents=True, exist_ok=True)
            cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            f.write_text(cid + "\n")
        return f.read_text().strip()

    def server_properties(self, text: str) -> str:
        quorum = ",".join(f"{i}@{h}:{self.controller_port}" for i, h in enumerate(self.voters, 1))
        rf = len(self.voters)
        return set_properties(
            text,
            {
                "node.id": self.index,
                "controller.quorum.bootstrap.servers": None,
                "controller.quorum.voters": quorum,
                "num.partitions": 3,
                "default.replication.factor": rf,
                "min.insync.replicas": 2,
                "offsets.topic.replication.factor": rf,
                "offsets.topic.num.partitions": 3,
                "transaction.state.log.replication.factor": rf,
                "transaction.state.log.min.isr": 2,
                "transaction.state.log.num.partitions": 3,
                "share.coordinator.state.topic.replication.factor": rf,
                "share.coordinator.state.topic.min.isr": 2,
                "unclean.leader.election.enable": "false",
            },
        )

    def format_args(self) -> list[str]:
        return []  # static quorum: controller.quorum.voters, no --standalone

    def after_healthy(self) -> str:
        return ""  # users and ACLs once every broker is up: after_cluster

    def after_cluster(self) -> str:
        return super().after_healthy()

    def command_jvm(self, java: Path, arts: Artifacts) -> list[str]:
        cmd = super().command_jvm(java, arts)
        heap = {"-Xms": f"-Xms{KAFKA_CLUSTER_HEAP}", "-Xmx": f"-Xmx{KAFKA_CLUSTER_HEAP}"}
        return [heap.get(a[:4], a) for a in cmd]


class CassandraNode(ClusterMember, Cassandra):
    base_name = "cassandra"

    def __init__(self, cluster_state: Path, index: int, host: str, seeds: list[str]):
        self.member_init(index, host)
        super().__init__(cluster_state)
        self.name = f"cassandra-{index}"
        self.seeds = seeds
        self.jmx_port = 7000 + 100 * int(host.rsplit(".", 1)[1])  # 7100 .. 32500, on 127.0.0.1

    def bind_addresses(self) -> dict[str, tuple[str, int]]:
        found = super().bind_addresses()
        found["CASSANDRA_JMX_PORT"] = ("127.0.0.1", self.jmx_port)  # Cassandra 5.0: loopback only
        return found

    def cassandra_yaml(self, text: str) -> str:
        seeds = ",".join(f"{h}:{self.storage_port}" for h in self.seeds)
        text = re.sub(r"^(\s*- seeds: ).*$", rf'\g<1>"{seeds}"', text, flags=re.M)
        return set_properties(
            text,
            {
                "cluster_name": "kafkapipeline-cluster",
                "auto_bootstrap": "false",
                # Data centre and rack from cassandra-rackdc.properties (datacenter1/rack1, as the
                # single node's SimpleSnitch names them); a network-topology snitch also lets a
                # CL ONE read coordinated by a node read that node's own copy first, and without
                # the dynamic snitch it always does: the cluster tests count rows per node.
                "endpoint_snitch": "GossipingPropertyFileSnitch",
                "dynamic_snitch": "false",
            },
            sep=": ",
        )

    def prepare_jvm(self, java: Path, arts: Artifacts) -> None:
        super().prepare_jvm(java, arts)
        (self.config / "cassandra-rackdc.properties").write_text("dc=datacenter1\nrack=rack1\n")

    def command_jvm(self, java: Path, arts: Artifacts) -> list[str]:
        cmd = super().command_jvm(java, arts)
        heap = {"-Xms": f"-Xms{CASSANDRA_CLUSTER_HEAP}", "-Xmx": f"-Xmx{CASSANDRA_CLUSTER_HEAP}"}
        out = [heap.get(a[:4], a) for a in cmd]
        # Every node a seed and no bootstrap: nothing to wait for before joining the ring.
        i = out.index("-Dcassandra.skip_wait_for_gossip_to_settle=0")
        out[i + 1 : i + 1] = ["-Dcassandra.consistent.rangemovement=false", "-Dcassandra.ring_delay_ms=5000"]
        return out

    def auth_replication(self) -> str | None:
        return f"{{'class': 'SimpleStrategy', 'replication_factor': {len(self.seeds)}}}"

    def after_healthy(self) -> str:
        return ""  # roles once the whole ring is up: after_cluster

    def after_cluster(self) -> str:
        done = self.setup_roles()
        self.wait_for_grant(self.seeds)  # a client may land on any node next
        return done


def cluster_members(state: Path, names: list[str]) -> list:
    """The members for the service names given (kafka, cassandra; none = both)."""
    addrs = cluster_addresses()
    cstate = state / "cluster"
    members: list = []
    for name in names or ["kafka", "cassandra"]:
        if name == "kafka":
            members += [KafkaNode(cstate, i, h, addrs) for i, h in enumerate(addrs, 1)]
        elif name == "cassandra":
            members += [CassandraNode(cstate, i, h, addrs) for i, h in enumerate(addrs, 1)]
        else:
            raise ServiceError(
                f"--cluster runs kafka and cassandra only; start {name} with `scripts/services up {name}`"
            )
    return members


def wait_for_cluster(members: list, timeout: float) -> str:
    """After every member answers: wait until each sees the whole cluster (brokers, UP peers)."""
    kafka = [m for m in members if isinstance(m, KafkaNode)]
    cass = [m for m in members if isinstance(m, CassandraNode)]
    deadline = time.monotonic() + timeout
    t0 = time.monotonic()
    notes = []
    while kafka:
        try:
            seen = {len(m.probe()["brokers"]) for m in kafka}
        except (OSError, ConnectionError, ValueError):
            seen = {0}
        if seen == {len(kafka)}:
            notes.append(f"kafka: every broker lists all {len(kafka)}")
            break
        if time.monotonic() > deadline:
            raise ServiceError(f"kafka cluster: brokers list {sorted(seen)} members, want {len(kafka)}")
        time.sleep(0.5)
    while cass:
        try:
            peers = {
                len(cql_query(m.port, "SELECT peer FROM system.peers_v2", host=m.host, login=m.login()))
                for m in cass
            }
        except (OSError, ConnectionError, ValueError):
            peers = {-1}
        if peers == {len(cass) - 1}:
            notes.append(f"cassandra: every node knows its {len(cass) - 1} peers")
            break
        if time.monotonic() > deadline:
            raise ServiceError(f"cassandra cluster: nodes know {sorted(peers)} peers, want {len(cass) - 1}")
        time.sleep(0.5)
    for first in kafka[:1] + cass[:1]:
        notes.append(f"{first.base_name}: {first.after_cluster()}")
    return "; ".join(notes) + f" ({time.monotonic() - t0:.1f}s)"


def nodetool_command(node: Cassandra, args: list[str]) -> list[str]:
    """Cassandra's nodetool: the NodeTool class of the pinned jars (Maven has no script), via JMX."""
    return [
        str(node.java()),
        "-Xmx128m",
        *CASSANDRA_JVM17_OPTS,  # NodeTool touches the same JDK internals as the server
        f"-Dlogback.configurationFile={CONF_DIR / 'nodetool-logback.xml'}",  # warnings only, stderr
        "-cp",
        node.artifacts().classpath(),
        "org.apache.cassandra.tools.NodeTool",
        "-h",
        "127.0.0.1",
        "-p",
        str(node.jmx_port),
        "-u",
        JMX_USER,
        "-pwf",
        str(node.jmx_password_file()),
        *args,
    ]
