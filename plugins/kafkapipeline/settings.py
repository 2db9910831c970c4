"""Names shared by every part of the pipeline, overridable through environment variables.

One place decides topic names, the keyspace, connection ids and consumer groups, so a
test can point the whole pipeline at a unique topic and keyspace by setting variables
instead of patching code.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

#: Airflow connection ids. Kafka client settings live in the ``kafka_default`` extra.
KAFKA_CONN_ID = "kafka_default"
CASSANDRA_CONN_ID = "cassandra_default"
OPENWEATHERMAP_CONN_ID = "openweathermap_default"
X_API_CONN_ID = "x_api_default"
MASTODON_CONN_ID = "mastodon_default"

#: Hashtags the Mastodon source reads (without ``#``) unless the connection's extra names others.
DEFAULT_MASTODON_HASHTAGS = ("Vancouver", "YVR", "VancouverBC")
MASTODON_HASHTAGS_ENV = "KAFKAPIPELINE_MASTODON_HASHTAGS"

#: Version written into every JSON value the pipeline produces.
SCHEMA_VERSION = 1

DEAD_LETTER_SUFFIX = ".dlq"


#: A keyspace is pasted into CQL (it cannot be a bind marker), so only plain lower-case
#: identifiers pass: Cassandra folds unquoted names to lower case and allows 48 characters.
KEYSPACE_NAME = re.compile(r"[a-z][a-z0-9_]{0,47}")


def checked_keyspace(name: str) -> str:
    """``name`` if it is a plain Cassandra keyspace name; every keyspace that reaches CQL passes here."""
    if not isinstance(name, str) or not KEYSPACE_NAME.fullmatch(name):
        raise ValueError(
            f"keyspace {name!r} is not a valid Cassandra keyspace name: a lower-case letter, then up to "
            "47 lower-case letters, digits or underscores (check KAFKAPIPELINE_KEYSPACE)"
        )
    return name


def keyspace(name: str | None = None) -> str:
    """The keyspace holding the pipeline's tables: ``name`` when given, else ``KAFKAPIPELINE_KEYSPACE``.

    Checked either way, so no caller interpolates an unchecked name into CQL.
    """
    return checked_keyspace(name or os.environ.get("KAFKAPIPELINE_KEYSPACE", "kafkapipeline"))


def tweets_topic() -> str:
    """Topic the tweet ingest produces to and the tweet drain reads from."""
    return os.environ.get("KAFKAPIPELINE_TWEETS_TOPIC", "tweets")


def weather_topic() -> str:
    """Topic the weather ingest produces to and the weather drain reads from."""
    return os.environ.get("KAFKAPIPELINE_WEATHER_TOPIC", "weather")


def cities() -> list[str]:
    """Cities the pipeline files data under (``KAFKAPIPELINE_CITIES``, comma separated; default Vancouver).

    Tables are partitioned by (city, day), and listing the partitions that exist is a full
    scan, so the maintenance DAGs (export, health, purge) visit the partitions of these cities.
    """
    configured = os.environ.get("KAFKAPIPELINE_CITIES", "")
    names = [city.strip() for city in configured.split(",") if city.strip()]
    return list(dict.fromkeys(names)) or ["Vancouver"]


def mastodon_hashtags() -> list[str]:
    """Hashtags for the Mastodon source (``KAFKAPIPELINE_MASTODON_HASHTAGS``, comma separated)."""
    configured = os.environ.get(MASTODON_HASHTAGS_ENV, "")
    names = [tag.strip().lstrip("#") for tag in configured.split(",") if tag.strip().lstrip("#")]
    return list(dict.fromkeys(names)) or list(DEFAULT_MASTODON_HASHTAGS)


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic paired with ``topic``."""
    return f"{topic}{DEAD_LETTER_SUFFIX}"


def consumer_group(role: str, topic: str) -> str:
    """One consumer group per role and topic, so roles never steal each other's offsets."""
    prefix = os.environ.get("KAFKAPIPELINE_GROUP_PREFIX", "kafkapipeline")
    return f"{prefix}.{role}.{topic}"


def include_dir() -> Path:
    """Folder with the CQL migrations; defaults to the repository's ``include/``."""
    configured = os.environ.get("KAFKAPIPELINE_INCLUDE_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "include"


def cql_dir() -> Path:
    return include_dir() / "cql"


def data_root() -> Path:
    """The only folder ``import_csv`` reads from and ``export_csv`` writes to (``KAFKAPIPELINE_DATA_ROOT``).

    Defaults to ``<KAFKAPIPELINE_STATE or the repository's .state>/data``. A DAG Param names a
    path inside it; :mod:`kafkapipeline.data_paths` refuses anything that leads out of it.
    """
    configured = os.environ.get("KAFKAPIPELINE_DATA_ROOT", "").strip()
    if configured:
        return Path(configured).expanduser()
    state = os.environ.get("KAFKAPIPELINE_STATE", "").strip()
    base = Path(state).expanduser() if state else Path(__file__).resolve().parents[2] / ".state"
    return base / "data"


def drain_setting(name: str, default: int) -> int:
    """Default of a drain knob (min_batch, max_wait_seconds, poll_seconds), overridable per
    environment with ``KAFKAPIPELINE_DRAIN_<NAME>`` — e.g. short waits for tests and benchmarks.
    Read when the DAG file is parsed: an environment variable, never a connection or the DB."""
    raw = os.environ.get(f"KAFKAPIPELINE_DRAIN_{name.upper()}")
    if raw is None or raw == "":
        return default
    value = round(float(raw))
    if value < 1:
        raise ValueError(f"KAFKAPIPELINE_DRAIN_{name.upper()} must be at least 1, got {raw!r}")
    return value
