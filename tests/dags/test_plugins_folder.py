"""Airflow's plugin manager imports every .py file under plugins/ as a top-level module
named after the file; the package must be excluded so none of its modules shadows a
standard-library or third-party module (a module named http.py once broke every component)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"

LOAD_PLUGINS = r"""
import json, sys
from airflow import plugins_manager
before = set(sys.modules)
plugins_manager.get_plugin_info() if hasattr(plugins_manager, "get_plugin_info") else None
from airflow._shared.module_loading import find_path_from_directory
files = [p for p in find_path_from_directory(sys.argv[1], ".airflowignore", "glob") if p.endswith(".py")]
print(json.dumps(files))
"""


def test_plugin_manager_only_loads_top_level_registration_modules():
    result = subprocess.run(
        [sys.executable, "-c", LOAD_PLUGINS, str(PLUGINS)], capture_output=True, text=True, check=True
    )
    loaded = [Path(p) for p in __import__("json").loads(result.stdout.strip().splitlines()[-1])]
    assert all(p.parent == PLUGINS for p in loaded), f"plugin manager would import {loaded}"
    package_files = list((PLUGINS / "kafkapipeline").rglob("*.py"))
    assert package_files, "the kafkapipeline package is missing"
