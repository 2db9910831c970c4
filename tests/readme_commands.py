"""The documented backfill commands, read from docs/operations.md so the tests run what a user copies.

The e2e test runs that page's ``airflow backfill create`` line (only its dates changed);
tests/unit/tooling/test_readme_commands.py checks the REST example against Airflow's own request models.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

#: The page that shows the backfill commands (the README links to it).
COMMANDS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "operations.md"
PAGE = "docs/operations.md"
CLI_PREFIX = "airflow backfill create "
_FENCED_BASH = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)


class ReadmeCommandMissing(AssertionError):
    """docs/operations.md no longer holds the command a test runs: say which, and where it was."""


@dataclass(frozen=True)
class BackfillCommand:
    """The page's ``airflow backfill create --dag-id D --from-date F --to-date T`` line."""

    line: str
    dag_id: str
    from_date: datetime
    to_date: datetime

    @property
    def span(self) -> timedelta:
        return self.to_date - self.from_date

    def with_dates(self, from_date: datetime) -> str:
        """The same line from ``from_date``, the page's span kept (HH:00 -> HH:59: six intervals)."""
        values = {"--from-date": from_date, "--to-date": from_date + self.span}
        words = shlex.split(self.line)
        for i, word in enumerate(words[:-1]):
            if word in values:
                words[i + 1] = values[word].isoformat()
        return shlex.join(words)


def _option(words: list[str], name: str, line: str) -> str:
    if words.count(name) != 1 or words.index(name) == len(words) - 1:
        raise ReadmeCommandMissing(f"{PAGE}'s backfill line has no single {name} value: {line!r}")
    return words[words.index(name) + 1]


def readme_backfill_command(text: str | None = None) -> BackfillCommand:
    """The one ``airflow backfill create`` line of a ```bash block in docs/operations.md (or ``text``)."""
    text = COMMANDS_PAGE.read_text() if text is None else text
    lines = [
        line.strip()
        for block in _FENCED_BASH.findall(text)
        for line in block.splitlines()
        if line.strip().startswith(CLI_PREFIX)
    ]
    if len(lines) != 1:
        raise ReadmeCommandMissing(
            f"{PAGE} must hold exactly one `{CLI_PREFIX}--dag-id ... --from-date ... --to-date ...` "
            f"line in a ```bash block (tests/e2e/test_pipeline_e2e.py runs it); found {len(lines)}: {lines}"
        )
    [line] = lines
    words = shlex.split(line)
    try:
        from_date = datetime.fromisoformat(_option(words, "--from-date", line))
        to_date = datetime.fromisoformat(_option(words, "--to-date", line))
    except ValueError as err:
        raise ReadmeCommandMissing(f"{PAGE}'s backfill line has a date not in ISO 8601: {err}") from err
    if from_date.tzinfo is None or to_date.tzinfo is None or to_date <= from_date:
        raise ReadmeCommandMissing(
            f"{PAGE}'s backfill line needs two dates with a UTC offset, the second later: {line!r}"
        )
    return BackfillCommand(line, _option(words, "--dag-id", line), from_date, to_date)


def readme_rest_backfill_block(text: str | None = None) -> str:
    """The ```bash block of docs/operations.md (or ``text``) that POSTs to /api/v2/backfills."""
    text = COMMANDS_PAGE.read_text() if text is None else text
    blocks = [block for block in _FENCED_BASH.findall(text) if "/api/v2/backfills" in block]
    if len(blocks) != 1:
        raise ReadmeCommandMissing(
            f"{PAGE} must hold exactly one ```bash block that POSTs to /api/v2/backfills; found {len(blocks)}"
        )
    return blocks[0]
