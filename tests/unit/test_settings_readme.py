"""The settings table of docs/settings.md is the one the settings object renders, and names every variable."""

from __future__ import annotations

import re
from pathlib import Path

from kafkapipeline import settings, settings_table
from kafkapipeline.settings_table import DOC_PAGE, END_MARKER, OTHER_VARIABLES, START_MARKER, markdown_table

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Where a KAFKAPIPELINE_* variable may be read or named.
SEARCHED = (
    "plugins",
    "dags",
    "scripts",
    "bench",
    "tests",
    "devtools",
    "Makefile",
    "docker-compose.yaml",
    "README.md",
    "docs",
)
#: Modules reading the environment themselves: the sentiment model's evaluation.py (where training
#: and the benchmark find the labelled tweets; never imported by a task), and the dashboard's
#: admission.py, which hands the api-server's whole environment to its worker processes (reading none).
OWN_ENV_READS = {"settings.py", "evaluation.py", "admission.py"}


def documented_table() -> str:
    text = (REPO_ROOT / DOC_PAGE).read_text()
    assert START_MARKER in text and END_MARKER in text, (
        f"{DOC_PAGE} lacks the settings table markers {START_MARKER!r} ... {END_MARKER!r}"
    )
    return text.split(START_MARKER, 1)[1].split(END_MARKER, 1)[0].strip() + "\n"


def test_the_documented_table_is_the_generated_one():
    fresh = markdown_table()
    assert documented_table() == fresh, (
        f"{DOC_PAGE}'s settings table differs from the settings object; paste this between the markers "
        f"(or run `python -m kafkapipeline.settings_table`):\n\n{fresh}"
    )


def test_the_module_prints_the_table(capsys):
    assert settings_table.main([]) == 0
    assert capsys.readouterr().out == markdown_table()
    assert settings_table.main(["--html"]) == 2
    assert "usage: python -m kafkapipeline.settings_table" in capsys.readouterr().err


def test_every_variable_named_anywhere_is_in_the_table():
    documented = set(settings.ENV_NAMES) | {other.name for other in OTHER_VARIABLES}
    named: set[str] = set()
    for entry in SEARCHED:
        path = REPO_ROOT / entry
        files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
        for file in files:
            if "__pycache__" in file.parts or file.suffix in {".pyc", ".json", ".csv", ".png"}:
                continue
            named |= set(re.findall(r"KAFKAPIPELINE_[A-Z0-9_]*[A-Z0-9]", file.read_text(errors="replace")))
    # Families written with a placeholder, e.g. KAFKAPIPELINE_DRAIN_<NAME>.
    named = {name for name in named if not any(other.startswith(name + "_") for other in documented)}
    # A documented family covers its members named in full (KAFKAPIPELINE_KAFKA_<ROLE>_PASSWORD covers
    # KAFKAPIPELINE_KAFKA_DRAIN_PASSWORD, which docker-compose.yaml has to spell out).
    families = [re.compile(re.sub(r"<[A-Z_]+>", "[A-Z0-9]+", other)) for other in documented if "<" in other]
    named = {name for name in named if not any(family.fullmatch(name) for family in families)}
    assert named - documented == set(), "variables read or named in the repo but not in the settings table"


def test_the_package_reads_the_environment_only_through_the_settings_object():
    offenders = []
    for module in (REPO_ROOT / "plugins" / "kafkapipeline").rglob("*.py"):
        if module.name in OWN_ENV_READS:
            continue
        for number, line in enumerate(module.read_text().splitlines(), 1):
            if re.search(r"os\.environ|getenv\(", line):
                offenders.append(f"{module.relative_to(REPO_ROOT)}:{number}: {line.strip()}")
    assert offenders == [], "read settings through kafkapipeline.settings:\n" + "\n".join(offenders)
