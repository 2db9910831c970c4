"""The README stays the front door, its DAG table matches dags/, and every link of the docs resolves.

The commands the pages show are checked where they are run: the backfill lines of
docs/operations.md by tests/unit/tooling/test_readme_commands.py (and the e2e test), the settings
table of docs/settings.md by tests/unit/test_settings_readme.py.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
MAX_README_LINES = 250
#: The two first commands, word for word (CI calls `make test`).
FIRST_COMMANDS = (
    "make run     # install, start Kafka, Cassandra, Postgres + Redis, run Airflow with the DAGs "
    "on the built-in replay source",
    "make test    # install, start Kafka, Cassandra, Postgres + Redis, lint, run the whole test suite",
)
DAG_ID = re.compile(r'^\s*dag_id="([a-z0-9_]+)"', re.MULTILINE)
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def dag_files() -> dict[str, str]:
    """dag_id -> its file's text, for every DAG file."""
    found = {}
    for path in sorted((REPO_ROOT / "dags").glob("*.py")):
        text = path.read_text()
        for dag_id in DAG_ID.findall(text):
            found[dag_id] = text
    return found


def section(text: str, heading: str) -> str:
    """The text under ``## heading``, up to the next ``## ``."""
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def dag_table() -> dict[str, str]:
    """The README's DAG table: dag_id -> its schedule cell."""
    rows = {}
    for line in section(README.read_text(), "The DAGs").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"`[a-z0-9_]+`", cells[0]):
            rows[cells[0].strip("`")] = cells[1]
    return rows


def test_the_readme_is_short():
    lines = README.read_text().count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; move detail to a docs/ page"


def test_the_readme_starts_with_the_two_commands():
    text = README.read_text()
    first_block = text[text.index("```bash\n") :].split("```", 2)[1]
    assert first_block.strip().splitlines() == ["bash", *FIRST_COMMANDS]


def test_the_dag_table_lists_every_dag_once():
    table, files = dag_table(), dag_files()
    assert sorted(table) == sorted(files), (
        f"README's DAG table: missing {sorted(set(files) - set(table))}, "
        f"no DAG file for {sorted(set(table) - set(files))}"
    )


def test_the_flow_diagram_shows_every_dag():
    [diagram] = re.findall(r"^```mermaid\n(.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL)
    assert [dag_id for dag_id in dag_files() if dag_id not in diagram] == []


def test_the_dag_table_says_which_dags_are_manual():
    for dag_id, text in dag_files().items():
        manual = re.search(r"^\s*schedule=None,", text, re.MULTILINE) is not None
        assert dag_table()[dag_id].startswith("manual") == manual, (
            f"{dag_id}: the README's schedule cell {dag_table()[dag_id]!r} vs the DAG's schedule"
        )


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {slug(m) for m in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE)}


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_every_relative_link_resolves(page: Path):
    broken = []
    for target in LINK.findall(FENCE.sub("", page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        file, _, anchor = target.partition("#")
        resolved = (page.parent / file).resolve() if file else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.relative_to(REPO_ROOT)}")
    assert broken == [], f"{page.name}: " + "; ".join(broken)


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in LINK.findall(README.read_text())}
    assert [p.name for p in PAGES if p.resolve() not in linked] == []


def test_the_screenshot_is_shown():
    assert "docs/first-run-dashboard.png" in README.read_text()
    assert (DOCS / "first-run-dashboard.png").is_file()


#: Inline code naming a file of the repository: its first word, when it starts like one of these.
PATH_PREFIXES = ("scripts/", "bench/", "tests/", "dags/", "include/", "devtools/", "docs/", "plugins/")
#: What a name may not contain to be checked: placeholders, globs, shell expansions, elisions.
PLACEHOLDERS = ("<", "*", "{", "$", "...")
MAKE_TARGET = re.compile(r"^([a-z][a-z-]*):", re.MULTILINE)


def inline_code(page: Path) -> list[str]:
    return re.findall(r"`([^`\n]+)`", FENCE.sub("", page.read_text()))


def fenced_bash(page: Path) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", page.read_text(), re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_every_file_and_module_named_exists(page: Path):
    missing = []
    for code in inline_code(page):
        word = code.split()[0].rstrip(".,:;)")
        if any(mark in word for mark in PLACEHOLDERS):
            continue
        if word.startswith("kafkapipeline/"):
            word = "plugins/" + word
        path_missing = word.startswith(PATH_PREFIXES) and not (REPO_ROOT / word).exists()
        is_module = re.fullmatch(r"kafkapipeline(\.[a-z_]+)+", word) is not None
        if path_missing or (is_module and importlib.util.find_spec(word) is None):
            missing.append(word)
    assert missing == [], f"{page.name} names what the repository does not have: {sorted(set(missing))}"


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_every_make_target_and_script_shown_exists(page: Path):
    targets = set(MAKE_TARGET.findall((REPO_ROOT / "Makefile").read_text()))
    missing = []
    for block in fenced_bash(page):
        for line in block.splitlines():
            words = line.split("#", 1)[0].split()
            if words[:1] == ["make"] and len(words) > 1 and words[1] not in targets:
                missing.append(f"make {words[1]}")
            missing += [w for w in words if w.startswith("scripts/") and not (REPO_ROOT / w).exists()]
    assert missing == [], f"{page.name} shows commands that do not exist: {missing}"
