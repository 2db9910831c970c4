"""Every service the project starts takes a login, and each role does only what it was granted.

Against the running services (``scripts/services up``): Kafka on SASL/SCRAM-SHA-512 with ACLs,
Cassandra with PasswordAuthenticator and CassandraAuthorizer, Cassandra's JMX with a password, and a
state folder no other local user can read.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cassandra import Unauthorized
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kafkapipeline.kafka.roles import KafkaRole
from tests.conftest import unique_name
from tests.private_files import exposed

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def connection(conn_id: str) -> dict:
    return json.loads(os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"])


def kafka_config(role: KafkaRole, **changes: str) -> dict:
    return {**connection(role.conn_id)["extra"], "socket.timeout.ms": 5000, **changes}


def create_topic(config: dict, name: str) -> None:
    admin = AdminClient(config)  # referenced until the future resolves (else: _DESTROY)
    admin.create_topics([NewTopic(name, 1, 1)], request_timeout=10)[name].result(timeout=30)


def delete_topic(config: dict, name: str) -> None:
    admin = AdminClient(config)
    admin.delete_topics([name], request_timeout=10)[name].result(timeout=30)


def test_kafka_refuses_a_client_without_credentials():
    servers = kafka_config(KafkaRole.PIPELINE)["bootstrap.servers"]
    with pytest.raises(KafkaException) as refused:
        AdminClient({"bootstrap.servers": servers, "socket.timeout.ms": 3000}).list_topics(timeout=5)
    assert refused.value.args[0].code() == KafkaError._TRANSPORT


def test_kafka_refuses_a_wrong_password():
    config = kafka_config(KafkaRole.DRAIN, **{"sasl.password": "not-the-password"})
    with pytest.raises(KafkaException) as refused:
        AdminClient(config).list_topics(timeout=10)
    assert "Authentication failed" in str(refused.value) or refused.value.args[0].code() in (
        KafkaError._AUTHENTICATION,
        KafkaError._TRANSPORT,
    )


def test_the_drain_user_cannot_create_or_delete_topics(kafka_hook):
    topic = unique_name("auth-drain")
    with pytest.raises(KafkaException) as refused:
        create_topic(kafka_config(KafkaRole.DRAIN), topic)
    assert refused.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    create_topic(kafka_config(KafkaRole.PIPELINE), topic)  # the topics' owner may
    try:
        with pytest.raises(KafkaException) as refused:
            delete_topic(kafka_config(KafkaRole.DRAIN), topic)
        assert refused.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    finally:
        delete_topic(kafka_config(KafkaRole.PIPELINE), topic)


def test_the_ingest_user_can_write_but_not_join_the_drains_group(make_topic):
    topic = make_topic("auth-ingest", partitions=1, with_dlq=False)
    producer = Producer(kafka_config(KafkaRole.INGEST))
    errors: list = []
    producer.produce(topic, b"{}", on_delivery=lambda err, msg: errors.append(err))
    producer.flush(30)
    assert errors == [None]

    admin = AdminClient(kafka_config(KafkaRole.INGEST))
    group = ConsumerGroupTopicPartitions(f"kafkapipeline.drain.{topic}", [TopicPartition(topic, 0)])
    future = admin.list_consumer_group_offsets([group], request_timeout=10)[group.group_id]
    with pytest.raises(KafkaException) as refused:
        future.result(timeout=30)
    assert refused.value.args[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED


def cassandra_cluster(login: tuple[str, str] | None) -> Cluster:
    conn = connection("cassandra_default")
    auth = PlainTextAuthProvider(*login) if login else None
    return Cluster([conn["host"].split(",")[0]], port=conn["port"], auth_provider=auth, protocol_version=5)


def test_cassandra_refuses_a_client_without_credentials_and_the_default_superuser():
    for login in (None, ("cassandra", "cassandra")):
        cluster = cassandra_cluster(login)
        try:
            with pytest.raises(NoHostAvailable) as refused:
                cluster.connect()
            assert "Authentication" in str(refused.value) or "authentication" in str(refused.value)
        finally:
            cluster.shutdown()


def test_the_pipeline_role_cannot_make_roles_or_touch_system_auth():
    conn = connection("cassandra_default")
    cluster = cassandra_cluster((conn["login"], conn["password"]))
    try:
        session = cluster.connect()
        with pytest.raises(Unauthorized):
            session.execute("CREATE ROLE intruder WITH SUPERUSER = true AND LOGIN = true AND PASSWORD = 'x'")
        with pytest.raises(Unauthorized):
            session.execute(
                "ALTER KEYSPACE system_auth WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 1}"
            )
    finally:
        cluster.shutdown()


def test_cassandra_roles_are_stored_with_the_services_bcrypt_work_factor():
    """Every drain task logs in; at Cassandra's default work factor each login cost 0.1 s of its CPU."""
    sys.path.insert(0, str(REPO / "scripts"))
    from services_lib.cassandra import BCRYPT_LOG2_ROUNDS, admin_login
    from services_lib.probes import cql_query

    conn = connection("cassandra_default")
    host = conn["host"].split(",")[0]
    rows = cql_query(
        conn["port"], "SELECT role, salted_hash FROM system_auth.roles", host=host, login=admin_login()
    )
    work_factors = {role.decode(): salted_hash[:7].decode() for role, salted_hash in rows}
    expected = f"$2a${BCRYPT_LOG2_ROUNDS:02d}$"
    assert work_factors[conn["login"]] == work_factors[admin_login()[0]] == expected


def test_starting_the_services_again_converts_a_role_hashed_at_another_work_factor():
    """An install made before the work factor was set keeps its roles' old hashes until setup_roles."""
    sys.path.insert(0, str(REPO / "scripts"))
    from services_lib.cassandra import BCRYPT_LOG2_ROUNDS, Cassandra, admin_login, cql_literal, pipeline_login
    from services_lib.common import state_root
    from services_lib.probes import cql_query
    from services_lib.prometheus import bcrypt_hash

    conn = connection("cassandra_default")
    host = conn["host"].split(",")[0]
    user, password = pipeline_login()

    def query(statement: str, login: tuple[str, str] = admin_login()) -> list:
        return cql_query(conn["port"], statement, host=host, login=login)

    where = f"WHERE role = {cql_literal(user)}"
    [(_, written)] = query(f"SELECT salted_hash, writetime(salted_hash) FROM system_auth.roles {where}")
    written_us = int.from_bytes(written, "big", signed=True)
    # Cassandra refuses a password change within 5 s of the last one (by the cell's write time).
    time.sleep(max(0.0, written_us / 1e6 + 6 - time.time()))
    # What Cassandra's default work factor (10) made; jBCrypt reads the same hash as revision 2a.
    old = bcrypt_hash(password, cost=10).replace("$2b$", "$2a$", 1)
    stamp = f"USING TIMESTAMP {written_us + 1}"  # after the cell it replaces, still in the past
    query(f"UPDATE system_auth.roles {stamp} SET salted_hash = {cql_literal(old)} {where}")
    assert query(f"SELECT salted_hash FROM system_auth.roles {where}")[0][0][:7] == b"$2a$10$"

    Cassandra(state_root()).setup_roles()

    [(salted_hash,)] = query(f"SELECT salted_hash FROM system_auth.roles {where}")
    assert salted_hash[:7].decode() == f"$2a${BCRYPT_LOG2_ROUNDS:02d}$"
    assert query("SELECT release_version FROM system.local", login=(user, password))  # the same password


def test_cassandra_jmx_refuses_nodetool_without_the_password():
    sys.path.insert(0, str(REPO / "scripts"))
    from services_lib.cassandra import Cassandra
    from services_lib.cluster import nodetool_command
    from services_lib.common import state_root

    node = Cassandra(state_root())
    with_login = nodetool_command(node, ["version"])
    done = subprocess.run(with_login, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    i = with_login.index("-u")
    without = with_login[:i] + with_login[i + 4 :]
    done = subprocess.run(without, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert (
        "credentials" in (done.stdout + done.stderr).lower()
        or "authentication" in (done.stdout + done.stderr).lower()
    )


def test_no_file_under_the_state_folder_is_readable_by_others():
    state = Path(os.environ["KAFKAPIPELINE_STATE"])
    # The folder itself may stay enterable (0711) for the account PostgreSQL runs as, never listable.
    assert stat.S_IMODE(state.stat().st_mode) & 0o066 == 0, oct(state.stat().st_mode)
    found = exposed(state)
    assert not found, "readable or writable by group/others:\n" + "\n".join(found[:20])
