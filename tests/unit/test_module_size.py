"""Every module under plugins/ stays small enough to read in one sitting (the project's 450-line rule)."""

from __future__ import annotations

from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
MAX_LINES = 450


def test_no_module_under_plugins_is_over_the_limit():
    modules = sorted(PLUGINS.rglob("*.py"))
    assert modules, f"no Python module found under {PLUGINS}"
    too_long = {
        str(module.relative_to(PLUGINS.parent)): lines
        for module in modules
        if (lines := len(module.read_text().splitlines())) > MAX_LINES
    }
    listed = ", ".join(f"{name} ({lines} lines)" for name, lines in too_long.items())
    assert too_long == {}, f"modules over {MAX_LINES} lines (split them): {listed}"
