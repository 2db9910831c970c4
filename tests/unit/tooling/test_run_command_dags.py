"""The run command unpauses every DAG but bootstrap by default: a new DAG cannot stay paused silently."""

from __future__ import annotations

import re
import subprocess

import pytest

from devtools import devstack
from tests.conftest import REPO_ROOT

DAG_ID = re.compile(r'^\s*dag_id="([a-z0-9_]+)"', re.MULTILINE)


def dag_ids_in_dags_folder() -> set[str]:
    found = set()
    for path in sorted((REPO_ROOT / "dags").glob("*.py")):
        ids = DAG_ID.findall(path.read_text())
        assert ids == [path.stem], f"{path.name}: one DAG per file, named after its dag_id (found {ids})"
        found.add(path.stem)
    return found


def test_the_default_dag_list_covers_every_dag_but_bootstrap():
    defaults = devstack.default_pipeline_dags()
    dag_ids = dag_ids_in_dags_folder()

    assert "bootstrap" in dag_ids and "bootstrap" not in defaults  # bootstrap is unpaused by its run
    assert len(defaults) == len(set(defaults)), defaults
    missing = dag_ids - {"bootstrap"} - set(defaults)
    assert not missing, f"add {sorted(missing)} to PIPELINE_DAGS' default in scripts/run-pipeline"
    assert set(defaults) <= dag_ids, f"no DAG file for {sorted(set(defaults) - dag_ids)}"


def test_the_list_read_is_the_one_bash_uses_when_the_setting_is_unset():
    line = next(
        line for line in devstack.RUN_COMMAND.read_text().splitlines() if line.startswith("PIPELINE_DAGS=")
    )
    shell = subprocess.run(
        ["bash", "-c", f'{line}\nprintf "%s\\n" $PIPELINE_DAGS'],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert shell.stdout.split() == devstack.default_pipeline_dags()


def test_a_run_command_without_a_default_list_is_an_error(tmp_path):
    script = tmp_path / "run-pipeline"
    script.write_text('#!/usr/bin/env bash\nPIPELINE_DAGS="${PIPELINE_DAGS:-}"\n')
    with pytest.raises(devstack.StackError, match="no default PIPELINE_DAGS"):
        devstack.default_pipeline_dags(script)
