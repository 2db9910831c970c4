"""Each DAG's doc_md is short, and the drains' shared explanation is written once and shown in both."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from kafkapipeline.drain.dag import DRAIN_DOC_MD

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS_FOLDER.glob("*.py") if not p.name.startswith("_"))
DRAIN_DAGS = ("drain_tweets", "drain_weather")
#: A DAG file's docstring says what the DAG does, its schedule and its Params; detail is in docs/.
MAX_DOCSTRING_LINES = 20


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_the_docstring_is_short(path: Path):
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert doc.startswith(f"### {path.stem}\n"), f"{path.name}: the docstring starts with ### <dag_id>"
    lines = len(doc.splitlines())
    assert lines <= MAX_DOCSTRING_LINES, f"{path.name}: {lines} docstring lines; move detail to docs/"


@pytest.mark.parametrize("dag_id", DRAIN_DAGS)
def test_a_drain_shows_its_own_doc_then_the_shared_one(dag_bag, dag_id):
    doc_md = dag_bag.dags[dag_id].doc_md
    own = ast.get_docstring(ast.parse((DAGS_FOLDER / f"{dag_id}.py").read_text()))
    assert own and doc_md.lstrip().startswith(own.strip())
    assert doc_md.endswith(DRAIN_DOC_MD) and doc_md.count(DRAIN_DOC_MD) == 1


def test_no_dag_file_repeats_the_shared_drain_text():
    marker = "Why a deferrable sensor and not an asset watcher"
    assert marker in DRAIN_DOC_MD
    assert [p.name for p in DAG_FILES if marker in p.read_text()] == []
