"""DAG integrity: every DAG file imports cleanly, follows the project's conventions and
touches neither the network nor a connection while it is parsed."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO_ROOT / "dags"
DAG_FILES = sorted(p for p in DAGS_FOLDER.glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="session")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_dag_files_exist():
    assert DAG_FILES, "no DAG files found under dags/"


def test_no_import_errors(dag_bag):
    assert dag_bag.import_errors == {}, "\n".join(f"{k}: {v}" for k, v in dag_bag.import_errors.items())


def test_one_dag_per_file_named_after_its_dag_id(dag_bag):
    by_file: dict[str, list[str]] = {}
    for dag_id, dag in dag_bag.dags.items():
        by_file.setdefault(Path(dag.fileloc).stem, []).append(dag_id)
    for path in DAG_FILES:
        assert by_file.get(path.stem) == [path.stem], f"{path.name} defines {by_file.get(path.stem)}"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_is_wiring(path: Path):
    """Module docstring (used as doc_md), future annotations, and no imports of other DAG files."""
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), f"{path.name} needs a module docstring (it is the DAG's doc_md)"
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert any(n.module == "__future__" for n in imports), (
        f"{path.name}: add 'from __future__ import annotations'"
    )
    dag_modules = {p.stem for p in DAG_FILES}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            assert node.module.split(".")[0] not in dag_modules, f"{path.name} imports DAG file {node.module}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] not in dag_modules, (
                    f"{path.name} imports DAG file {alias.name}"
                )


def test_dags_have_tags_owner_retries_and_docs(dag_bag):
    for dag_id, dag in dag_bag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and dag.doc_md.strip(), f"{dag_id} has no doc_md"
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id} has no owner"
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


def test_dags_do_not_catch_up_by_default(dag_bag):
    for dag_id, dag in dag_bag.dags.items():
        assert dag.catchup is False, f"{dag_id} catches up by default"
        assert dag.max_active_runs is not None and dag.max_active_runs <= 4, (
            f"{dag_id}: bound max_active_runs"
        )


@pytest.mark.parametrize("dag_id", ["drain_tweets", "drain_weather"])
def test_a_drain_runs_one_run_at_a_time_fanned_out_by_mapping(dag_bag, dag_id):
    """Partition groups fan out inside a run (mapped ``drain``), never as concurrent runs.

    Two runs of one drain at once would read the same partitions from the same committed
    offsets; ``max_active_runs=1`` (with ``@continuous``) keeps each partition to one reader.
    """
    dag = dag_bag.dags[dag_id]
    assert dag.max_active_runs == 1
    assert type(dag.timetable).__name__ == "ContinuousTimetable"
    drain = dag.get_task("drain")
    assert drain.is_mapped, "drain is mapped over the partition groups"
    assert drain.upstream_task_ids == {"wait_for_batch"}  # the sensor's XCom holds the groups


PARSE_WITHOUT_IO = r"""
import json, socket, sys
from airflow.sdk import BaseHook

def refuse(*args, **kwargs):
    raise AssertionError("network or connection access at DAG parse time")

socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
BaseHook.get_connection = classmethod(refuse)

from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"dags": sorted(bag.dags), "errors": {k: str(v) for k, v in bag.import_errors.items()}}))
"""


def parse_without_io(script: str = PARSE_WITHOUT_IO, **settings: str) -> dict:
    """Run ``script`` on the DAG folder in a fresh interpreter, no connections set, plus ``settings``;
    the JSON report it printed last."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")} | settings
    result = subprocess.run(
        [sys.executable, "-c", script, str(DAGS_FOLDER)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_parsing_touches_no_network_and_no_connection():
    """Parse every DAG file with sockets and connection look-ups made to fail, and no connections set."""
    report = parse_without_io()
    assert report["errors"] == {}, report["errors"]
    assert set(report["dags"]) == {p.stem for p in DAG_FILES}


def test_the_purge_dag_has_each_streams_retention_param(dag_bag):
    from kafkapipeline.streams.registry import STREAMS

    params = dag_bag.dags["purge_expired"].params
    assert {stream.retention_param for stream in STREAMS.values()} <= set(params)


def test_the_bootstrap_dag_has_each_streams_partitions_param(dag_bag):
    from kafkapipeline.streams.registry import STREAMS

    params = dag_bag.dags["bootstrap"].params
    for stream in STREAMS.values():
        assert params[stream.partitions_param] == stream.default_partitions, stream.name
