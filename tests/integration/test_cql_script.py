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
