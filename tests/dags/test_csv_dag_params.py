"""The Params of import_csv and export_csv refuse what the tasks must never be given (JSON-schema limits)."""

from __future__ import annotations

import pytest

from tests.dags.test_dag_integrity import DAGS_FOLDER


@pytest.fixture(scope="module")
def dags():
    from airflow.dag_processing.dagbag import DagBag

    found = {}
    for dag_id in ("import_csv", "export_csv"):
        found[dag_id] = DagBag(dag_folder=str(DAGS_FOLDER / f"{dag_id}.py")).dags[dag_id]
    return found


@pytest.mark.parametrize(
    ("dag_id", "name", "value", "reason"),
    [
        ("import_csv", "path", "../etc/passwd", "does not match"),
        ("import_csv", "path", "seed/../../x.csv", "does not match"),
        ("import_csv", "path", "a\x00.csv", "does not match"),
        ("import_csv", "path", "a" * 1025, "is too long"),
        ("import_csv", "path", "", "should be non-empty|is too short"),
        ("import_csv", "kind", "passwd", "is not one of"),
        ("import_csv", "chunk_size", 0, "less than the minimum of 1"),
        ("export_csv", "export_dir", "../outside", "does not match"),
        ("export_csv", "export_dir", "x" * 1025, "is too long"),
        ("export_csv", "cities", ["V" * 101], "is too long"),
        ("export_csv", "cities", [f"c{n}" for n in range(101)], "is too long|has too many"),
        ("export_csv", "tables", ["system_auth"], "is not one of"),
        ("export_csv", "day", "2026-11-22T00:00:00", "does not match|is not a 'date'"),
    ],
)
def test_params_refuse(dags, dag_id, name, value, reason):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=reason):
        dags[dag_id].params.get_param(name).resolve(value)


@pytest.mark.parametrize(
    ("dag_id", "name", "value"),
    [
        ("import_csv", "path", "exports/tweets/2026-11-22.csv"),
        ("import_csv", "path", "/opt/airflow/state/data/seed.csv"),
        ("import_csv", "kind", "seed_tweets"),
        ("export_csv", "export_dir", None),
        ("export_csv", "export_dir", "exports"),
        ("export_csv", "cities", ["Vancouver", "Burnaby"]),
        ("export_csv", "day", "2026-11-22"),
    ],
)
def test_params_accept(dags, dag_id, name, value):
    assert dags[dag_id].params.get_param(name).resolve(value) == value
