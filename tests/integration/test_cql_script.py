"""``scripts/cql``: the real cqlsh on the running Cassandra, with nothing in front of the results."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CQL = Path(__file__).resolve().parents[2] / "scripts" / "cql"


def cql(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CQL), *args], capture_output=True, text=True, timeout=120, env={**os.environ, **env}, check=False
    )


def test_a_one_off_query_prints_the_result_and_nothing_before_it(cassandra):
    expected = cassandra.execute("SELECT release_version FROM system.local").one().release_version

    done = cql("SELECT release_version FROM system.local")

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no DeprecationWarning, no other noise
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines[0].strip() == "release_version", done.stdout  # the result's header comes first
    assert re.fullmatch(r"-+", lines[1].strip())
    assert lines[2].strip() == expected
    assert lines[3] == "(1 rows)"
    assert "WARNING" not in done.stdout and "built against" not in done.stdout


def test_a_bad_statement_fails_with_the_servers_reason(cassandra):
    done = cql("SELECT no_such_column FROM system.local")

    assert done.returncode != 0
    assert "Undefined column name no_such_column" in done.stderr


def test_statements_reach_the_pipelines_keyspace(keyspace):
    done = cql(f"SELECT version FROM {keyspace}.schema_migrations LIMIT 1")

    assert done.returncode == 0, done.stderr
    assert "(1 rows)" in done.stdout


def shell(stdin: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``scripts/cql`` with no arguments (``make cqlsh``'s path), statements piped on stdin."""
    return subprocess.run(
        [str(CQL)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        check=False,
    )


def test_without_arguments_the_shell_opens_on_the_pipelines_keyspace(cassandra, keyspace):
    expected = cassandra.execute(f"SELECT version FROM {keyspace}.schema_migrations LIMIT 1").one()[0]

    done = shell("SELECT version FROM schema_migrations LIMIT 1;\n", KAFKAPIPELINE_KEYSPACE=keyspace)

    assert done.returncode == 0, done.stderr
    assert "does not exist" not in done.stderr and "InvalidRequest" not in done.stderr, done.stderr
    assert "(1 rows)" in done.stdout
    assert str(expected) in done.stdout.split()


def test_without_arguments_it_says_the_keyspace_does_not_exist_yet(cassandra):
    done = shell("SELECT release_version FROM system.local;\n", KAFKAPIPELINE_KEYSPACE="no_such_keyspace_i14")

    assert done.returncode == 0, done.stderr
    assert "keyspace no_such_keyspace_i14 does not exist yet" in done.stderr
    assert "unreachable" not in done.stderr
    assert "(1 rows)" in done.stdout  # the shell opened all the same, without a keyspace


def test_without_arguments_it_says_cassandra_is_unreachable():
    closed = '{"conn_type": "cassandra", "host": "127.0.0.1", "port": 1}'

    done = shell("SELECT release_version FROM system.local;\n", AIRFLOW_CONN_CASSANDRA_DEFAULT=closed)

    assert done.returncode == 1
    assert done.stderr.startswith("error: Cassandra at 127.0.0.1:1 is unreachable"), done.stderr
    assert "does not exist yet" not in done.stderr
