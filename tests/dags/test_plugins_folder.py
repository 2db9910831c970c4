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
from pathlib import Path
from airflow import plugins_manager
plugins = Path(sys.argv[1]).resolve()
plugins_manager.ensure_plugins_loaded()
loaded = sorted(
    {str(Path(m.__file__).resolve()) for name, m in list(sys.modules.items())
     if getattr(m, "__file__", None) and Path(m.__file__).resolve().is_relative_to(plugins)
     and not name.startswith("kafkapipeline")}
)
print(json.dumps(loaded))
"""
# Loads the plugins as the api-server does (Airflow's public plugins_manager) and lists the modules
# it imported from plugins/ under a top-level name; the package's own modules load as kafkapipeline.*.


def test_plugin_manager_only_loads_top_level_registration_modules():
    result = subprocess.run(
        [sys.executable, "-c", LOAD_PLUGINS, str(PLUGINS)], capture_output=True, text=True, check=True
    )
    loaded = [Path(p) for p in __import__("json").loads(result.stdout.strip().splitlines()[-1])]
    assert all(p.parent == PLUGINS for p in loaded), f"plugin manager would import {loaded}"
    package_files = list((PLUGINS / "kafkapipeline").rglob("*.py"))
    assert package_files, "the kafkapipeline package is missing"
