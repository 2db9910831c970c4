"""docs/operations.md's backfill examples (CLI and REST) are what the tests run and what Airflow accepts."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from tests.readme_commands import (
    ReadmeCommandMissing,
    readme_backfill_command,
    readme_rest_backfill_block,
)

CLI = "airflow backfill create --dag-id ingest_tweets --from-date {} --to-date {}"
FROM, TO = "2026-11-30T10:00:00+00:00", "2026-11-30T10:59:00+00:00"
INLINE = "Run `airflow backfill create --dag-id x --from-date 2026-01-01T00:00:00+00:00 --to-date ...`.\n"


def _readme(*lines: str) -> str:
    return "Intro.\n\n```bash\n. scripts/env.sh\n" + "".join(f"{line}\n" for line in lines) + "```\n"


def test_the_page_has_the_cli_backfill_of_six_intervals_of_one_hour():
    command = readme_backfill_command()
    assert command.dag_id == "ingest_tweets"
    assert (command.from_date.minute, command.to_date.minute) == (0, 59)
    assert command.from_date.utcoffset() == timedelta(0)
    # ingest_tweets runs every 10 minutes: the intervals starting within [from, to].
    starts = range(0, int(command.span.total_seconds()) + 1, 600)
    assert len(starts) == 6


def test_only_the_dates_are_substituted_and_the_span_is_kept():
    command = readme_backfill_command(_readme(CLI.format(FROM, TO)))
    start = datetime(2025, 3, 1, 7, 0, tzinfo=UTC)
    line = command.with_dates(start)
    assert line == CLI.format("2025-03-01T07:00:00+00:00", "2025-03-01T07:59:00+00:00")
    before, after = shlex.split(command.line), shlex.split(line)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert [before[i - 1] for i in changed] == ["--from-date", "--to-date"]


@pytest.mark.parametrize(
    "text, reason",
    [
        ("No commands here.\n", "found 0"),
        (_readme(CLI.format(FROM, TO)) * 2, "found 2"),
        # Inline code in prose does not count: the e2e test runs a line a user copies from a block.
        (INLINE, "found 0"),
        (_readme(CLI.format("yesterday", TO)), "not in ISO 8601"),
        (_readme(CLI.format("2026-11-30T10:00:00", "2026-11-30T10:59:00")), "UTC offset"),
        (_readme(CLI.format(FROM, TO).rsplit(" --to-date", 1)[0]), "--to-date"),
    ],
)
def test_a_readme_without_the_line_fails_clearly(text, reason):
    with pytest.raises(ReadmeCommandMissing, match=re.escape(reason)):
        readme_backfill_command(text)


def _python_snippets(block: str) -> list[str]:
    return re.findall(r"python -c '([^']*)'", block)


def test_the_rest_example_posts_what_airflow_accepts():
    from airflow.api_fastapi.core_api.datamodels.backfills import BackfillPostBody

    block = readme_rest_backfill_block()
    [body] = re.findall(r"-d '(\{[^']*\})'", block)
    posted = BackfillPostBody.model_validate_json(body)  # Airflow's own request model (strict)
    cli = readme_backfill_command()
    assert (posted.dag_id, posted.from_date, posted.to_date) == (cli.dag_id, cli.from_date, cli.to_date)
    assert "max_active_runs" in json.loads(body)
    assert '"$api/api/v2/backfills"' in block and '"$api/auth/token"' in block


def test_the_rest_example_reads_the_password_from_the_passwords_file(tmp_path):
    """The login body comes from the passwords file through a pipe; the token is read from the answer."""
    from airflow.api_fastapi.auth.managers.simple.datamodels.login import LoginBody

    block = readme_rest_backfill_block()
    assert "--data @-" in block and "-H @-" in block, "password and token go through pipes, not arguments"
    login_snippet, token_snippet = _python_snippets(block)
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({"admin": "s3cret-from-the-file"}))
    login = subprocess.run(
        [sys.executable, "-c", login_snippet],
        env={"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    expected = LoginBody(username="admin", password="s3cret-from-the-file")
    assert LoginBody.model_validate_json(login) == expected
    token = subprocess.run(
        [sys.executable, "-c", token_snippet],
        input=json.dumps({"access_token": "a.b.c"}),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert token.strip() == "a.b.c"
