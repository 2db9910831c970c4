"""Every pipeline write and every session read follows the consistency settings (no driver default)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import RoundRobinPolicy, TokenAwarePolicy

from kafkapipeline import settings
from kafkapipeline.cassandra.replication import read_consistency
from kafkapipeline.cassandra.session import skip_schema_metadata, use_settings_consistency


@pytest.fixture
def clean_env(monkeypatch):
    for name in settings.ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_reads_default_to_local_quorum_and_the_setting_is_checked(clean_env):
    assert settings.current().read_consistency == "LOCAL_QUORUM"
    assert read_consistency() == ConsistencyLevel.LOCAL_QUORUM
    clean_env.setenv("KAFKAPIPELINE_READ_CONSISTENCY", " quorum ")
    assert read_consistency() == ConsistencyLevel.QUORUM
    for write_only in ("ANY", "EACH_QUORUM", "fast"):
        clean_env.setenv("KAFKAPIPELINE_READ_CONSISTENCY", write_only)
        with pytest.raises(settings.SettingsError, match=r"READ_CONSISTENCY=.*read consistency"):
            settings.current()


def _unconnected_session(**cluster_args) -> Session:
    session = Session.__new__(Session)  # no network: only the cluster's configuration is used
    session.cluster = Cluster(contact_points=["127.0.0.1"], **cluster_args)
    return session


MODES = {
    "default": ({}, False),
    "profiles": ({"execution_profiles": {EXEC_PROFILE_DEFAULT: ExecutionProfile(RoundRobinPolicy())}}, False),
    "legacy-load-balancing-policy": ({"load_balancing_policy": RoundRobinPolicy()}, True),
}


@pytest.mark.parametrize(("cluster_args", "legacy"), MODES.values(), ids=MODES.keys())
def test_a_session_reads_at_the_setting_in_every_driver_mode(clean_env, cluster_args, legacy):
    clean_env.setenv("KAFKAPIPELINE_READ_CONSISTENCY", "QUORUM")
    session = _unconnected_session(**cluster_args)
    try:
        use_settings_consistency(session)
        if legacy:  # what _create_response_future reads in legacy mode
            assert session.default_consistency_level == ConsistencyLevel.QUORUM
        else:
            assert (
                session.get_execution_profile(EXEC_PROFILE_DEFAULT).consistency_level
                == ConsistencyLevel.QUORUM
            )
    finally:
        session.cluster.shutdown()


@pytest.mark.parametrize(
    ("policy", "reads_schema"), [(RoundRobinPolicy(), False), (TokenAwarePolicy(RoundRobinPolicy()), True)]
)
def test_schema_metadata_is_skipped_unless_routing_needs_it(policy, reads_schema):
    cluster = Cluster(contact_points=["127.0.0.1"], load_balancing_policy=policy)
    try:
        skip_schema_metadata(cluster)
        assert (cluster.schema_metadata_enabled, cluster.token_metadata_enabled) == (reads_schema,) * 2
    finally:
        cluster.shutdown()


class RecordingSession:
    """Records the consistency level of each statement executed (prepared ones carry their own)."""

    def __init__(self, count: int = 0) -> None:
        self.executed: list[tuple[str, int | None]] = []
        self.count = count

    def prepare(self, cql: str) -> SimpleNamespace:
        return SimpleNamespace(query_string=cql, consistency_level=None)

    def execute(self, statement, parameters=None, timeout=None):
        self.executed.append((statement.query_string, statement.consistency_level))
        return SimpleNamespace(one=lambda: (self.count,))


def writes(session: RecordingSession) -> list[int | None]:
    return [level for cql, level in session.executed if not cql.startswith("SELECT")]


@pytest.fixture
def write_two(clean_env):
    clean_env.setenv("KAFKAPIPELINE_WRITE_CONSISTENCY", "TWO")
    return ConsistencyLevel.TWO


def test_purge_deletes_at_the_write_consistency(write_two):
    from kafkapipeline.maintenance.retention import purge_table

    session = RecordingSession(count=3)
    purge_table(session, "ks", "tweets", retention=1, cities=["Vancouver"], today=date(2026, 11, 30))
    assert writes(session) and set(writes(session)) == {write_two}


def test_health_rows_are_written_at_the_write_consistency(write_two):
    from kafkapipeline.health.report import HealthFigure, HealthReport, HealthThresholds
    from kafkapipeline.health.task import write_health

    session = RecordingSession()
    figures = [HealthFigure("lag", "tweets", 1.0, "ok"), HealthFigure("lag", "weather", 2.0, "ok")]
    write_health(session, "ks", HealthReport(datetime.now(UTC), HealthThresholds(), figures))
    assert writes(session) == [write_two, write_two]


def test_the_drain_audit_row_is_written_at_the_write_consistency(write_two):
    from kafkapipeline.drain.drainer import insert_batch_row
    from kafkapipeline.drain.summary import DrainSummary

    session = RecordingSession()
    insert_batch_row(session, "ks", DrainSummary(topic="tweets", stream="tweets", group_id="g"))
    assert writes(session) == [write_two]


def test_the_migration_history_is_written_at_the_write_consistency(write_two, tmp_path):
    from kafkapipeline.cassandra.migrations import Migration, _record

    session = RecordingSession()
    _record(session, "ks", Migration(1, "keyspace", tmp_path / "0001_keyspace.cql", "abc"))
    assert writes(session) == [write_two]
