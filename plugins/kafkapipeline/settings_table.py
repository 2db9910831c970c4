"""The README's settings table, generated from :class:`kafkapipeline.settings.PipelineSettings`.

``python -m kafkapipeline.settings_table`` prints it and a unit test keeps the README's copy equal; it
lists the variables only scripts and tests read too, so the README names every one.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path
from typing import Any, NamedTuple

import annotated_types
from pydantic.fields import FieldInfo

from kafkapipeline.settings import ENV_PREFIX, PipelineSettings

PACKAGE = "kafkapipeline"


class OtherVariable(NamedTuple):
    """A variable read outside the Python package (shell scripts, tests, benchmarks)."""

    name: str
    kind: str
    default: str
    read_by: str
    doc: str


#: Read outside the package (the package's own ones are the fields of PipelineSettings).
OTHER_VARIABLES = (
    OtherVariable(
        "KAFKAPIPELINE_CLUSTER",
        "flag",
        "unset",
        "scripts/env.sh",
        "`1`: the connections list every cluster member (`scripts/services up --cluster`)",
    ),
    OtherVariable(
        "KAFKAPIPELINE_CLUSTER_ADDRESSES",
        "addresses",
        "`127.0.0.1,127.0.0.2,127.0.0.3`",
        "scripts/services, scripts/env.sh, tests/cluster",
        "Loopback address of each Kafka broker and Cassandra node in cluster mode",
    ),
    OtherVariable(
        "KAFKAPIPELINE_CACHE",
        "path",
        "`$XDG_CACHE_HOME/kafkapipeline` (`~/.cache/kafkapipeline`)",
        "scripts/services",
        "Downloaded Kafka/Cassandra/Airflow artifacts, shared by every clone",
    ),
    OtherVariable(
        "KAFKAPIPELINE_ADMIN_PASSWORD",
        "secret",
        "random, printed once",
        "scripts/run-pipeline",
        "Password of the Airflow `admin` user the run command creates",
    ),
    OtherVariable(
        "KAFKAPIPELINE_REFERENCE_DATA",
        "path",
        "`../shared/reference-data`",
        "tests, bench, kafkapipeline.sentiment.model.evaluation (training)",
        "Recorded real API responses the tests and benchmarks replay (absent: those tests skip)",
    ),
    OtherVariable(
        "KAFKAPIPELINE_CHROMIUM",
        "path",
        "`/usr/bin/chromium`",
        "tests/e2e",
        "Browser the dashboard's end-to-end test drives",
    ),
    OtherVariable(
        "KAFKAPIPELINE_TESTS_ALLOW_SQLITE",
        "flag",
        "unset",
        "tests/conftest.py",
        "`1` lets the tests run Airflow on SQLite (else a session that would stops before its first test)",
    ),
    OtherVariable(
        "KAFKAPIPELINE_METADATA_DB",
        "text",
        "`postgres`",
        "scripts/env.sh",
        "Airflow's metadata database: `postgres` (the local one) or `sqlite` (a file in AIRFLOW_HOME)",
    ),
    OtherVariable(
        "KAFKAPIPELINE_POSTGRES_DB",
        "text",
        "`airflow`",
        "scripts/env.sh, scripts/services",
        "Database of Airflow's metadata in the local Postgres (created by `scripts/services up`)",
    ),
    OtherVariable(
        "KAFKAPIPELINE_POSTGRES_USER",
        "text",
        "`airflow`",
        "scripts/env.sh, scripts/services",
        "Role Airflow connects to the local Postgres as",
    ),
    OtherVariable(
        "KAFKAPIPELINE_POSTGRES_PASSWORD",
        "secret",
        "generated into `<state>/secrets/postgres.password`",
        "scripts/env.sh, scripts/services",
        "Password of that role",
    ),
    OtherVariable(
        "KAFKAPIPELINE_POSTGRES_SUPERUSER_PASSWORD",
        "secret",
        "generated into the state folder",
        "scripts/services",
        "Password of the local Postgres superuser (used only to create the role and database)",
    ),
    OtherVariable(
        "KAFKAPIPELINE_REDIS_PASSWORD",
        "secret",
        "generated into `<state>/secrets/redis.password`",
        "scripts/env.sh, scripts/services",
        "Password of the local Redis (the Celery broker)",
    ),
    OtherVariable(
        "KAFKAPIPELINE_EXECUTOR",
        "text",
        "`celery` (`local` on SQLite)",
        "scripts/env.sh",
        "Airflow executor: `celery` (the run command starts Celery workers) or `local`",
    ),
    OtherVariable(
        "KAFKAPIPELINE_CELERY_WORKERS",
        "integer >= 1",
        "`2`",
        "scripts/airflow-components",
        "Celery workers the run command starts",
    ),
)

_BOUNDS = (
    (annotated_types.Ge, "ge", ">="),
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Le, "le", "<="),
)
_KINDS: dict[Any, str] = {str: "text", int: "integer", Path: "path", float: "number"}


def type_label(field: FieldInfo) -> str:
    """What a value must be, in words: ``integer >= 1``, ``list (comma separated)``, ``path``."""
    annotation = field.annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    if typing.get_origin(annotation) is tuple:
        label = "list (comma separated)"
    elif typing.get_origin(annotation) is typing.Literal:
        label = "one of " + ", ".join(f"`{choice}`" for choice in typing.get_args(annotation))
    else:
        label = _KINDS.get(annotation, getattr(annotation, "__name__", str(annotation)))
    bounds = [
        f"{sign} {getattr(bound, attr)}"
        for bound in field.metadata
        for kind, attr, sign in _BOUNDS
        if isinstance(bound, kind)
    ]
    return ", ".join([f"{label} {bounds[0]}", *bounds[1:]]) if bounds else label


def _extra(field: FieldInfo, key: str) -> str:
    extra = field.json_schema_extra
    return str(extra.get(key) or "") if isinstance(extra, dict) else ""


def default_label(field: FieldInfo) -> str:
    """The default as the README shows it."""
    if shown := _extra(field, "shown_default"):
        return shown
    default = field.default
    if isinstance(default, tuple):
        return f"`{','.join(default)}`"
    return f"`{default}`"


def _row(*cells: str) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def markdown_table() -> str:
    """Every ``KAFKAPIPELINE_*`` variable: the package's (from the settings object), then the others."""
    lines = [
        _row("variable", "type", "default", "read by", "what it does"),
        "| --- | --- | --- | --- | --- |",
    ]
    for name, field in PipelineSettings.model_fields.items():
        read_by = ", ".join(filter(None, (PACKAGE, _extra(field, "also_read_by"))))
        lines.append(
            _row(
                f"`{ENV_PREFIX}{name.upper()}`",
                type_label(field),
                default_label(field),
                read_by,
                field.description or "",
            )
        )
    for other in OTHER_VARIABLES:
        lines.append(_row(f"`{other.name}`", other.kind, other.default, other.read_by, other.doc))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m kafkapipeline.settings_table``: print the README's settings table."""
    args = sys.argv[1:] if argv is None else argv
    if args:
        print("usage: python -m kafkapipeline.settings_table", file=sys.stderr)
        return 2
    print(markdown_table(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
