"""Apply the ordered CQL files under ``include/cql`` once each, recording them in Cassandra.

Why not inline DDL: the schema then has a history, reviewable per file, and every
environment (a laptop, CI, a test's private keyspace) reaches the same schema the same way.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from string import Template

from cassandra import InvalidRequest, Unavailable, WriteFailure, WriteTimeout
from cassandra.cluster import Session
from cassandra.query import SimpleStatement
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from kafkapipeline import settings
from kafkapipeline.cassandra.replication import write_consistency

log = logging.getLogger(__name__)

MIGRATION_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.cql$")
DDL_TIMEOUT_SECONDS = 60.0
# A node that has just restarted can take well over the driver's 10 s default to take a schema
# change; writing to a table it does not know yet fails with INCOMPATIBLE_SCHEMA.
SCHEMA_AGREEMENT_SECONDS = 120.0


class MigrationError(RuntimeError):
    """The migration files or the recorded history are inconsistent."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    checksum: str

    def statements(self, keyspace: str, replication: str = settings.DEFAULT_REPLICATION) -> list[str]:
        text = Template(self.path.read_text(encoding="utf-8")).substitute(
            keyspace=keyspace, replication=replication
        )
        return split_statements(text)


@dataclass
class MigrationReport:
    keyspace: str
    applied: list[str] = field(default_factory=list)
    already_applied: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.applied)

    def summary(self) -> str:
        if not self.applied:
            done = len(self.already_applied)
            return f"keyspace {self.keyspace}: schema up to date ({done} migrations applied before)"
        return f"keyspace {self.keyspace}: applied {', '.join(self.applied)}"


def split_statements(cql: str) -> list[str]:
    """Split a CQL script on semicolons, ignoring ``--`` and ``//`` comments and quoted text."""
    statements: list[str] = []
    current: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(cql):
        ch = cql[i]
        if quote:
            current.append(ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
            current.append(ch)
        elif cql.startswith("--", i) or cql.startswith("//", i):
            end = cql.find("\n", i)
            i = len(cql) if end == -1 else end
            continue
        elif ch == ";":
            statement = "".join(current).strip()
            if statement:
                statements.append(statement)
            current = []
        else:
            current.append(ch)
        i += 1
    tail = "".join(current).strip()
    if tail:
        statements.append(tail)
    return statements


def discover(cql_dir: Path | None = None) -> list[Migration]:
    """All migration files in version order; refuses stray names and duplicate versions."""
    folder = cql_dir or settings.cql_dir()
    if not folder.is_dir():
        raise MigrationError(f"CQL migration folder {folder} does not exist (set KAFKAPIPELINE_INCLUDE_DIR)")
    migrations: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.cql")):
        match = MIGRATION_FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files must be named NNNN_lower_snake.cql")
        version = int(match["version"])
        if version in migrations:
            raise MigrationError(
                f"{path.name}: version {version} is used by {migrations[version].path.name} too"
            )
        checksum = hashlib.sha256(path.read_bytes()).hexdigest()
        migrations[version] = Migration(version, match["name"], path, checksum)
    if not migrations:
        raise MigrationError(f"no migration files in {folder}")
    return [migrations[v] for v in sorted(migrations)]


def applied_checksums(session: Session, keyspace: str) -> dict[int, str]:
    """Versions already recorded; empty while the keyspace or the history table does not exist."""
    try:
        rows = session.execute(f"SELECT version, checksum FROM {keyspace}.schema_migrations")
    except InvalidRequest:
        return {}
    return {row.version: row.checksum for row in rows}


def apply_pending(
    session: Session,
    keyspace: str | None = None,
    *,
    replication: str = settings.DEFAULT_REPLICATION,
    cql_dir: Path | None = None,
) -> MigrationReport:
    """Apply every migration not yet recorded, in order, and record each one after it succeeds."""
    try:
        keyspace = settings.keyspace(keyspace)
    except ValueError as err:
        raise MigrationError(str(err)) from err
    report = MigrationReport(keyspace=keyspace)
    recorded = applied_checksums(session, keyspace)
    # Migrations applied before the history table exists (the keyspace itself, the table)
    # are recorded as soon as it does.
    unrecorded: list[Migration] = []
    for migration in discover(cql_dir):
        label = f"{migration.version:04d}_{migration.name}"
        if migration.version in recorded:
            if recorded[migration.version] != migration.checksum:
                raise MigrationError(
                    f"{label} was applied with a different checksum: applied migrations must not be "
                    "edited; add a new numbered file instead"
                )
            report.already_applied.append(label)
            continue
        for statement in migration.statements(keyspace, replication):
            log.info("%s: %s", label, statement.splitlines()[0])
            _execute_ddl(session, statement)
        unrecorded.append(migration)
        if _history_table_exists(session, keyspace):
            for done in unrecorded:
                _record(session, keyspace, done)
            unrecorded.clear()
        report.applied.append(label)
    if unrecorded:
        raise MigrationError(
            f"{keyspace}.schema_migrations does not exist after all migrations ran; "
            "one of the first migrations must create it"
        )
    return report


def _execute_ddl(session: Session, statement: str) -> None:
    """Run one DDL statement and return only once every live node has the new schema."""
    result = session.execute(statement, timeout=DDL_TIMEOUT_SECONDS)
    if result.response_future.is_schema_agreed:
        return
    control = session.cluster.control_connection
    if not control.wait_for_schema_agreement(wait_time=SCHEMA_AGREEMENT_SECONDS):
        raise MigrationError(
            f"the nodes did not agree on the schema within {SCHEMA_AGREEMENT_SECONDS:.0f}s after "
            f"{statement.splitlines()[0]!r}; check `nodetool describecluster` and run bootstrap again"
        )


def _history_table_exists(session: Session, keyspace: str) -> bool:
    rows = session.execute(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s AND table_name = %s",
        (keyspace, "schema_migrations"),
    )
    return rows.one() is not None


@retry(
    retry=retry_if_exception_type((WriteFailure, WriteTimeout, Unavailable)),
    stop=stop_after_delay(SCHEMA_AGREEMENT_SECONDS),
    wait=wait_exponential(multiplier=0.5, max=10),
    reraise=True,
)
def _record(session: Session, keyspace: str, migration: Migration) -> None:
    """Idempotent, so retried while a replica is still catching up with the schema."""
    insert = SimpleStatement(
        f"INSERT INTO {keyspace}.schema_migrations (version, name, checksum, applied_at) "
        "VALUES (%s, %s, %s, %s)",
        consistency_level=write_consistency(),
    )
    session.execute(
        insert,
        (migration.version, migration.name, migration.checksum, datetime.now(UTC)),
        timeout=DDL_TIMEOUT_SECONDS,
    )


def align_replication(session: Session, keyspace: str, replication: str) -> str | None:
    """ALTER the keyspace to ``replication`` if its current map differs; say what to run next.

    Raising the factor only changes where new writes go: the existing rows reach the new
    replicas after a full repair on every node (README, "Running on a cluster").
    """
    import ast

    keyspace = settings.keyspace(keyspace)
    row = session.execute(
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s", (keyspace,)
    ).one()
    if row is None:
        raise MigrationError(f"keyspace {keyspace} does not exist: apply the migrations first")

    def normal(mapping: dict) -> dict[str, str]:
        return {k: str(v).rsplit(".", 1)[-1] for k, v in mapping.items()}

    current, wanted = normal(dict(row.replication)), normal(ast.literal_eval(replication))
    if current == wanted:
        return None
    alter = f"ALTER KEYSPACE {keyspace} WITH replication = {replication}"
    _execute_ddl(session, alter)
    return (
        f"keyspace {keyspace} replication changed from {current} to {wanted}: now run a full repair "
        f"of {keyspace} on every node (README, Running on a cluster)"
    )
