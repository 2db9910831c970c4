"""The migration files and the runner's parsing, without a database."""

from __future__ import annotations

import pytest

from kafkapipeline.cassandra.migrations import MigrationError, discover, split_statements


def test_split_statements_ignores_comments_and_semicolons_in_quotes():
    cql = """
    -- a comment; with a semicolon
    CREATE TABLE a (x text); // another; comment
    INSERT INTO a (x) VALUES ('semi;colon');
    """
    assert split_statements(cql) == ["CREATE TABLE a (x text)", "INSERT INTO a (x) VALUES ('semi;colon')"]


def test_repository_migrations_are_ordered_idempotent_and_templated():
    migrations = discover()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    for migration in migrations:
        for statement in migration.statements("ks_test"):
            assert "${" not in statement
            upper = " ".join(statement.upper().split())
            if upper.startswith("CREATE"):
                assert "IF NOT EXISTS" in upper, f"{migration.path.name}: {statement[:60]} is not idempotent"
            if upper.startswith("CREATE TABLE"):
                assert "ks_test." in statement


def test_discover_rejects_badly_named_and_duplicate_files(tmp_path):
    (tmp_path / "0001_ok.cql").write_text("SELECT 1;")
    (tmp_path / "0001_again.cql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="version 1"):
        discover(tmp_path)
    (tmp_path / "0001_again.cql").unlink()
    (tmp_path / "2_bad.cql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_lower_snake"):
        discover(tmp_path)


class _Result:
    def __init__(self, agreed: bool) -> None:
        self.response_future = type("Future", (), {"is_schema_agreed": agreed})()


class _Session:
    """The driver calls _execute_ddl makes, with the schema agreement the test chooses."""

    def __init__(self, agreed_at_once: bool, agreed_later: bool) -> None:
        self.agreed_at_once, self.waits = agreed_at_once, []
        control = type("Control", (), {"wait_for_schema_agreement": self._wait})()
        self.cluster = type("Cluster", (), {"control_connection": control})()
        self._later = agreed_later

    def _wait(self, wait_time: float) -> bool:
        self.waits.append(wait_time)
        return self._later

    def execute(self, statement: str, timeout: float) -> _Result:
        return _Result(self.agreed_at_once)


def test_ddl_waits_for_schema_agreement_and_fails_clearly_without_it():
    from kafkapipeline.cassandra.migrations import SCHEMA_AGREEMENT_SECONDS, MigrationError, _execute_ddl

    agreed = _Session(agreed_at_once=True, agreed_later=False)
    _execute_ddl(agreed, "CREATE TABLE t (k int PRIMARY KEY)")
    assert agreed.waits == []

    late = _Session(agreed_at_once=False, agreed_later=True)
    _execute_ddl(late, "CREATE TABLE t (k int PRIMARY KEY)")
    assert late.waits == [SCHEMA_AGREEMENT_SECONDS]

    never = _Session(agreed_at_once=False, agreed_later=False)
    with pytest.raises(MigrationError, match=r"did not agree on the schema.*CREATE TABLE t"):
        _execute_ddl(never, "CREATE TABLE t (k int PRIMARY KEY)")
