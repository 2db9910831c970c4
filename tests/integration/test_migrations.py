"""The migration runner against the real Cassandra."""

from __future__ import annotations

import pytest

from kafkapipeline.cassandra.migrations import MigrationError, apply_pending
from tests.conftest import unique_name

pytestmark = pytest.mark.integration


def test_edited_applied_migration_is_refused(cassandra, tmp_path):
    keyspace = unique_name("mig")
    (tmp_path / "0001_keyspace.cql").write_text(
        "CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = ${replication};"
    )
    (tmp_path / "0002_schema_migrations.cql").write_text(
        "CREATE TABLE IF NOT EXISTS ${keyspace}.schema_migrations "
        "(version int PRIMARY KEY, name text, checksum text, applied_at timestamp);"
    )
    try:
        assert apply_pending(cassandra, keyspace, cql_dir=tmp_path).applied == [
            "0001_keyspace",
            "0002_schema_migrations",
        ]
        (tmp_path / "0003_things.cql").write_text(
            "CREATE TABLE IF NOT EXISTS ${keyspace}.things (id int PRIMARY KEY);"
        )
        assert apply_pending(cassandra, keyspace, cql_dir=tmp_path).applied == ["0003_things"]
        (tmp_path / "0003_things.cql").write_text(
            "CREATE TABLE IF NOT EXISTS ${keyspace}.things (id text PRIMARY KEY);"
        )
        with pytest.raises(MigrationError, match="different checksum"):
            apply_pending(cassandra, keyspace, cql_dir=tmp_path)
    finally:
        cassandra.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60)
