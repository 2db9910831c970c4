"""Shared fixtures: the project's environment, real Kafka and Cassandra, unique topics and keyspaces.

The environment comes from scripts/env.sh (the same file the Makefile and the run
command source), so tests see exactly the configuration a user runs with.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from kafkapipeline.sentiment.model.evaluation import reference_data_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The recorded real files: ../shared/reference-data next to the clone, or KAFKAPIPELINE_REFERENCE_DATA
#: (e.g. for a git worktree that lives elsewhere); the benchmarks and training find it the same way.
REFERENCE_DATA = reference_data_dir()


def _load_project_env() -> None:
    output = subprocess.run(
        ["bash", "-c", f". {REPO_ROOT / 'scripts' / 'env.sh'} && env -0"],
        check=True,
        capture_output=True,
        env={
            k: v
            for k, v in os.environ.items()
            if k.startswith(("AIRFLOW", "KAFKA", "CASSANDRA", "PATH", "HOME"))
        }
        | {"PATH": os.environ.get("PATH", "")},
    ).stdout
    for entry in output.split(b"\0"):
        if b"=" not in entry:
            continue
        key, _, value = entry.decode().partition("=")
        if key.startswith(("AIRFLOW", "KAFKAPIPELINE", "KAFKA_", "CASSANDRA_", "REPO_ROOT")):
            os.environ.setdefault(key, value)
    # Tests run tasks in-process; keep Airflow's unit-test mode off so env connections are used.
    os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")


_load_project_env()

#: Set to 1 to run the tests on an SQLite metadata database anyway (they refuse by default).
ALLOW_SQLITE = "KAFKAPIPELINE_TESTS_ALLOW_SQLITE"


def sqlite_metadata_reasons(environ: Mapping[str, str]) -> list[str]:
    """Why these tests would run Airflow on SQLite (empty: they would not).

    Both this process's metadata database (``airflow_db``, ``dag.test()``) and the one the
    stacks of devtools.devstack.local_stack build with scripts/env.sh (e2e tests, benchmarks:
    they recompute the URL from ``KAFKAPIPELINE_METADATA_DB``).
    """
    conn = environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if not conn:  # Airflow then reads $AIRFLOW_HOME/airflow.cfg, whose default is SQLite
        from airflow.configuration import conf

        conn = conf.get("database", "sql_alchemy_conn", fallback="")
    reasons = []
    if conn.startswith("sqlite"):
        reasons.append(f"this process's metadata database is {conn.split('?')[0]}")
    if environ.get("KAFKAPIPELINE_METADATA_DB") == "sqlite":
        reasons.append("KAFKAPIPELINE_METADATA_DB=sqlite: the e2e tests' Airflow stacks would use SQLite")
    return reasons


def pytest_sessionstart(session: pytest.Session) -> None:
    """No test silently runs on SQLite: the suite stops at once unless asked for it explicitly."""
    reasons = sqlite_metadata_reasons(os.environ)
    if reasons and os.environ.get(ALLOW_SQLITE) != "1":
        pytest.exit(
            "the tests would run Airflow on SQLite, not the Postgres that `make test` starts: "
            + "; ".join(reasons)
            + ". Unset KAFKAPIPELINE_METADATA_DB / AIRFLOW__DATABASE__SQL_ALCHEMY_CONN (scripts/env.sh "
            f"then picks the local Postgres), or set {ALLOW_SQLITE}=1 to run on SQLite on purpose.",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


def pytest_report_header(config: pytest.Config) -> str:
    """Which metadata database the run uses (the scheme only: a URL may hold a password)."""
    reasons = sqlite_metadata_reasons(os.environ)
    kind = "SQLite, allowed by " + ALLOW_SQLITE if reasons else "not SQLite"
    scheme = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "").split(":", 1)[0] or "from airflow.cfg"
    return f"Airflow metadata database: {scheme} ({kind})"


def unique_name(prefix: str) -> str:
    """A Kafka topic / Cassandra keyspace name no other test uses."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def run_in_fresh_interpreter(code: str, env: dict[str, str] | None = None) -> str:
    """Run ``code`` in a new interpreter that sees only plugins/ and return what it printed.

    For what a process loads (numba, the weights): this process's state is neither seen nor changed.
    """
    import sys

    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
        env={"PYTHONPATH": str(REPO_ROOT / "plugins"), "PATH": "/usr/bin:/bin", **(env or {})},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="session")
def reference_data() -> Path:
    """The recorded real files of ../shared/reference-data (read there, never copied into the repo).

    A clone without ../shared skips the tests that need them: they say so, the rest of the suite runs.
    """
    if not REFERENCE_DATA.is_dir():
        pytest.skip(
            f"shared reference data not found at {REFERENCE_DATA}: this test reads recorded real files "
            "from there (a clone without ../shared skips it; KAFKAPIPELINE_REFERENCE_DATA names "
            "another folder)"
        )
    return REFERENCE_DATA


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    """A fresh data root for one test: the only folder import_csv reads and export_csv writes."""
    root = tmp_path / "data-root"
    root.mkdir()
    monkeypatch.setenv("KAFKAPIPELINE_DATA_ROOT", str(root))
    monkeypatch.delenv("KAFKAPIPELINE_EXPORT_DIR", raising=False)
    return root.resolve()


@pytest.fixture(scope="session")
def kafka_hook():
    from kafkapipeline.kafka.hook import PipelineKafkaHook

    hook = PipelineKafkaHook()
    admin = hook.admin()
    try:
        admin.list_topics(timeout=10)
    except Exception as err:  # pragma: no cover - environment problem, say what to do
        pytest.fail(f"Kafka is not reachable ({err}); start it with: scripts/services up")
    return hook


@pytest.fixture
def make_topic(kafka_hook) -> Iterator[Callable[..., str]]:
    """Create uniquely named topics for one test and delete them afterwards."""
    from kafkapipeline.kafka.topics import TopicSpec, ensure_topics

    created: list[str] = []

    def _make(prefix: str = "test", partitions: int = 3, with_dlq: bool = True) -> str:
        name = unique_name(prefix)
        specs = [TopicSpec(name, partitions, 3_600_000)]
        if with_dlq:
            specs.append(TopicSpec(f"{name}.dlq", 1, 3_600_000))
        ensure_topics(kafka_hook.admin(), specs)
        created.extend(spec.name for spec in specs)
        return name

    yield _make
    if created:
        # Keep the admin client referenced until the futures resolve: a client garbage-collected
        # at once destroys its handle and the deletions fail silently (_DESTROY).
        admin = kafka_hook.admin()
        futures = admin.delete_topics(created, operation_timeout=30)
        for future in futures.values():
            with contextlib.suppress(Exception):  # cleanup is best effort
                future.result(timeout=30)


@pytest.fixture(scope="session")
def cassandra():
    """A session on the real Cassandra (no default keyspace), shut down at the end."""
    from cassandra.policies import ConstantReconnectionPolicy

    from kafkapipeline.cassandra.session import cassandra_session

    try:
        with cassandra_session() as session:
            # Some tests stop and restart Cassandra (tests/integration/test_services.py). The
            # driver's default back-off (doubling up to 10 min) would leave this shared session
            # without a host for the tests after them; retry every second instead.
            session.cluster.reconnection_policy = ConstantReconnectionPolicy(delay=1.0)
            session.execute("SELECT release_version FROM system.local")
            yield session
    except Exception as err:
        if "NoHostAvailable" in type(err).__name__:
            pytest.fail(f"Cassandra is not reachable ({err}); start it with: scripts/services up")
        raise


@pytest.fixture
def keyspace(cassandra, monkeypatch) -> Iterator[str]:
    """A fresh keyspace with every migration applied, set as the pipeline's keyspace, dropped after."""
    from kafkapipeline.cassandra.migrations import apply_pending

    name = unique_name("test")
    apply_pending(cassandra, name)
    monkeypatch.setenv("KAFKAPIPELINE_KEYSPACE", name)
    yield name
    cassandra.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=60)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Airflow's metadata database, migrated once per session (dag.test() needs it)."""
    airflow = Path(os.environ.get("VIRTUAL_ENV", REPO_ROOT / ".venv")) / "bin" / "airflow"
    done = subprocess.run(
        [str(airflow), "db", "migrate"], capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        output = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
        pytest.fail(
            f"`airflow db migrate` failed (exit {done.returncode}) on Airflow's metadata database "
            f"({os.environ.get('KAFKAPIPELINE_METADATA_DB', 'postgres')}):\n{output}\n"
            "Is Postgres running? start it with: scripts/services up postgres"
        )
