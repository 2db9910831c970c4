"""The 3-broker, 3-node cluster for the failover tests: started once per session, stopped at the end.

``scripts/services up --cluster kafka cassandra`` runs with the environment's
``KAFKAPIPELINE_CLUSTER_ADDRESSES`` and ``KAFKAPIPELINE_STATE`` (develop beside the shared
single node with ``KAFKAPIPELINE_CLUSTER_ADDRESSES=127.0.0.2,127.0.0.3,127.0.0.4
KAFKAPIPELINE_STATE=/tmp/clusterstate``). A cluster that was already up is left running.
The connections are the ones scripts/env.sh builds with ``KAFKAPIPELINE_CLUSTER=1`` (every
broker, every contact point); keyspaces get RF 3 and topics RF 3.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cluster.failover_support import STALL_PREFIX, stall_rows, stall_table
from tests.conftest import unique_name

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = REPO_ROOT / "scripts" / "services"
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from services_lib.cluster import cluster_members, nodetool_command  # noqa: E402
from services_lib.common import pid_alive, state_root  # noqa: E402

RF3 = "{'class': 'SimpleStrategy', 'replication_factor': 3}"
CONSISTENCY = "KAFKAPIPELINE_WRITE_CONSISTENCY"


def _cluster_connections() -> dict[str, str]:
    """AIRFLOW_CONN_KAFKA_DEFAULT / _CASSANDRA_DEFAULT as scripts/env.sh builds them in cluster mode."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    out = subprocess.run(
        ["bash", "-c", f". {REPO_ROOT / 'scripts' / 'env.sh'} && env -0"],
        check=True,
        capture_output=True,
        env=env | {"KAFKAPIPELINE_CLUSTER": "1"},
    ).stdout
    found = dict(e.decode().partition("=")[::2] for e in out.split(b"\0") if b"=" in e)
    return {k: found[k] for k in ("AIRFLOW_CONN_KAFKA_DEFAULT", "AIRFLOW_CONN_CASSANDRA_DEFAULT")}


def pytest_collection_modifyitems(config, items) -> None:
    """Only ``-m cluster`` runs these: a plain ``pytest`` (``make test``) must not start a cluster."""
    if "cluster" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="starts a 3-broker, 3-node cluster: run with `-m cluster` (tests/cluster)")
    for item in items:
        if "cluster" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Every failover test's stall in one table at the end (a passing test's prints are hidden)."""
    reports = [r for outcome in ("passed", "failed") for r in terminalreporter.stats.get(outcome, [])]
    lines = stall_table(stall_rows(reports))
    if lines:
        terminalreporter.write_sep("-", "failover stalls (longest time without progress after the kill)")
        for line in lines:
            terminalreporter.write_line(line)


def services(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SERVICES), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


class Cluster:
    """Find, kill -9 and restart the members of the running cluster; report the stalls."""

    #: Records a property of the running test (set by the autouse ``whole_cluster`` fixture).
    record_property: Callable[[str, object], None] | None = None

    def report_stall(self, what: str, seconds: float) -> None:
        """Printed, and recorded for the JUnit XML and the end-of-run stall table."""
        assert self.record_property is not None, "report_stall outside a test"
        self.record_property(STALL_PREFIX + what, round(seconds, 1))
        print(f"[stall] {what}: {seconds:.1f}s")

    def member(self, name: str):
        return next(m for m in cluster_members(state_root(), []) if m.name == name)

    def kill(self, name: str) -> float:
        """SIGKILL member ``name``; returns when it is gone (time.monotonic() of the kill)."""
        member = self.member(name)
        pid = member.running_pid()
        assert pid is not None, f"{name} is not running"
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        while pid_alive(pid):
            time.sleep(0.05)
        print(f"killed {name} (pid {pid})")
        return killed_at

    def kill_soon(self, name: str) -> None:
        """SIGKILL without waiting (safe inside a driver callback)."""
        pid = self.member(name).running_pid()
        assert pid is not None, f"{name} is not running"
        os.kill(pid, signal.SIGKILL)

    def restart(self) -> float:
        """Start whatever member is down and wait for the whole cluster; returns the seconds it took."""
        t0 = time.monotonic()
        done = services("up", "--cluster", "kafka", "cassandra")
        assert done.returncode == 0, done.stdout + done.stderr
        return time.monotonic() - t0

    def start_member(self, name: str, timeout: float = 300) -> float:
        """Start one member (the others stay as they are); returns the seconds until it answers."""
        member = self.member(name)
        t0 = time.monotonic()
        member.start()
        while member.try_probe()[0] is None:
            assert time.monotonic() - t0 < timeout, f"{name} did not come back within {timeout}s"
            time.sleep(0.5)
        return time.monotonic() - t0

    def nodetool(self, name: str, *args: str, timeout: float = 600) -> str:
        """Cassandra's NodeTool class from the pinned jars, against member ``name``'s JMX port."""
        cmd = nodetool_command(self.member(name), list(args))  # what `scripts/services nodetool` runs
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        assert done.returncode == 0, f"nodetool {' '.join(args)} failed: {done.stdout}{done.stderr}"
        return done.stdout


@pytest.fixture(scope="session")
def cluster_env() -> Iterator[None]:
    """The cluster's connections and RF 3 settings, for this session only (set back at its end)."""
    wanted = _cluster_connections() | {
        "KAFKAPIPELINE_REPLICATION": RF3,
        "KAFKAPIPELINE_TOPIC_REPLICATION_FACTOR": "3",
        # The pipeline's default level unless the run chose another (QUORUM, say).
        "KAFKAPIPELINE_WRITE_CONSISTENCY": os.environ.get(CONSISTENCY) or "LOCAL_QUORUM",
    }
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def cluster(cluster_env) -> Iterator[Cluster]:
    was_up = services("status", "--cluster", "kafka", "cassandra").returncode == 0
    if not was_up:
        t0 = time.monotonic()
        done = services("up", "--cluster", "kafka", "cassandra")
        assert done.returncode == 0, done.stdout + done.stderr
        print(f"cluster up in {time.monotonic() - t0:.1f}s")
    yield Cluster()
    if not was_up:
        services("down", "--cluster", "kafka", "cassandra")


@pytest.fixture(autouse=True)
def whole_cluster(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts with all six members up and leaves them so (restarting what it killed)."""
    if services("status", "--cluster", "kafka", "cassandra").returncode != 0:
        cluster.restart()
    # The report's user_properties, as record_property fills them (that fixture warns under the
    # xunit2 JUnit family, which does not write properties; the stall table reads them).
    cluster.record_property = lambda name, value: request.node.user_properties.append((name, value))
    yield
    cluster.record_property = None
    if services("status", "--cluster", "kafka", "cassandra").returncode != 0:
        cluster.restart()


@pytest.fixture(scope="session")
def kafka_hook(cluster):
    """The project's Kafka hook on the cluster (every broker), instead of the single node's."""
    from kafkapipeline.kafka.hook import PipelineKafkaHook

    return PipelineKafkaHook()


@pytest.fixture(scope="session")
def cassandra(cluster):
    """A session on the cluster (every contact point), shut down at the end."""
    from kafkapipeline.cassandra.session import cassandra_session

    with cassandra_session() as session:
        yield session


@pytest.fixture
def cluster_topic(kafka_hook, cluster) -> Iterator[Callable[..., str]]:
    """Uniquely named topics with 3 replicas per partition (and a .dlq), deleted afterwards."""
    from kafkapipeline.kafka.topics import TopicSpec, ensure_topics

    created: list[str] = []

    def _make(prefix: str, partitions: int = 3) -> str:
        name = unique_name(prefix)
        specs = [TopicSpec(name, partitions, 3_600_000, 3), TopicSpec(f"{name}.dlq", 1, 3_600_000, 3)]
        admin = kafka_hook.admin()
        ensure_topics(admin, specs)
        created.extend(s.name for s in specs)
        for spec in specs:
            wait_until_every_broker_knows(admin, spec.name, spec.partitions)
        return name

    yield _make
    if created:
        admin = kafka_hook.admin()
        for future in admin.delete_topics(created, operation_timeout=30).values():
            with contextlib.suppress(Exception):
                future.result(timeout=30)


def wait_until_every_broker_knows(admin, topic: str, partitions: int, timeout: float = 60) -> None:
    """Until metadata, asked several times (of whichever broker answers), shows every partition led
    and in sync on 3 replicas: a broker that has not learnt of a new topic yet answers without it,
    and a drain planned from that answer reads only some partitions (a test's kill then never fires)."""
    deadline = time.monotonic() + timeout
    agreeing = 0
    while agreeing < 5:
        found = admin.list_topics(topic, timeout=10).topics.get(topic)
        ready = (
            found is not None
            and found.error is None
            and len(found.partitions) == partitions
            and all(p.leader >= 0 and len(p.isrs) == 3 for p in found.partitions.values())
        )
        agreeing = agreeing + 1 if ready else 0
        assert time.monotonic() < deadline, f"{topic}: the brokers' metadata never agreed on it"
        time.sleep(0.2)


@pytest.fixture
def cluster_keyspace(cassandra, cluster, monkeypatch) -> Iterator[str]:
    """A fresh keyspace with RF 3 and every migration applied, the pipeline's keyspace for the test."""
    from cassandra import Unauthorized

    from kafkapipeline.cassandra.migrations import apply_pending

    name = unique_name("cluster")
    # Right after the cluster starts, a node may still answer the pipeline role's permission check
    # from a replica or cache without its fresh CREATE grant (seen once in CI): the migrations are
    # idempotent, so apply them again for a little while rather than fail the first test's set-up.
    deadline = time.monotonic() + 30
    while True:
        try:
            apply_pending(cassandra, name, replication=RF3)
            break
        except Unauthorized:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    # Per-node counts read one replica at CL ONE: no speculative read of another replica.
    cassandra.execute(f"ALTER TABLE {name}.tweets WITH speculative_retry = 'NONE'", timeout=60)
    monkeypatch.setenv("KAFKAPIPELINE_KEYSPACE", name)
    yield name
    with contextlib.suppress(Exception):
        cassandra.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=60)


def cassandra_hosts() -> list[str]:
    return json.loads(os.environ["AIRFLOW_CONN_CASSANDRA_DEFAULT"])["host"].split(",")
