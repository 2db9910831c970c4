"""The benchmark scripts under bench/ loaded as modules, and what their functions print."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]


def load_bench(name: str) -> Any:
    """``bench/<name>.py`` as the module ``name`` (kept in sys.modules, as its pickling needs)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def printed(fn: Any, *args: Any) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        fn(*args)
    return out.getvalue()
