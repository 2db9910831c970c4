"""Every ``KAFKAPIPELINE_*`` setting the package reads, typed, in one object; plus the shared names.

:class:`PipelineSettings` holds each variable with its type, default and doc (the README's settings table
is generated from it); the functions below read it, so callers never touch ``os.environ``. Settings are
read at call time (cached on the variables' values); the precedence is Param -> environment -> default,
a blank counting as unset; a bad value fails every read with a :class:`SettingsError` naming the variable.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasGenerator, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kafkapipeline.cassandra.replication import (
    ReadConsistency,
    Replication,
    WriteConsistency,
    check_pipeline_writes,
)
from kafkapipeline.errors import ConfigurationError

#: Airflow connection ids. Kafka client settings live in the ``kafka_default`` extra.
KAFKA_CONN_ID = "kafka_default"
CASSANDRA_CONN_ID = "cassandra_default"
OPENWEATHERMAP_CONN_ID = "openweathermap_default"
X_API_CONN_ID = "x_api_default"
MASTODON_CONN_ID = "mastodon_default"

#: What ``ingest_tweets`` searches X for unless a run says otherwise.
DEFAULT_TWEET_QUERY = "Vancouver lang:en -is:retweet"
#: Hashtags the Mastodon source reads (without ``#``) unless the connection's extra names others.
DEFAULT_MASTODON_HASHTAGS = ("Vancouver", "YVR", "VancouverBC")
MASTODON_HASHTAGS_ENV = "KAFKAPIPELINE_MASTODON_HASHTAGS"

#: Version written into every JSON value the pipeline produces.
SCHEMA_VERSION = 1

DEAD_LETTER_SUFFIX = ".dlq"

ENV_PREFIX = "KAFKAPIPELINE_"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCHEDULE = "*/10 * * * *"
#: The keyspace's replication unless ``KAFKAPIPELINE_REPLICATION`` says (equal to migrations').
DEFAULT_REPLICATION = "{'class': 'SimpleStrategy', 'replication_factor': 1}"
#: DAGs whose last run the health check reports unless the Param or the variable names others.
DEFAULT_HEALTH_DAGS = (
    "ingest_tweets",
    "ingest_weather",
    "drain_tweets",
    "drain_weather",
    "export_csv",
    "purge_expired",
)

#: The highest cap on concurrent dashboard reads per api-server process (each holds a worker process).
DASHBOARD_MAX_CONCURRENT_REQUESTS_LIMIT = 64

#: A keyspace is pasted into CQL (it cannot be a bind marker), so only plain lower-case
#: identifiers pass: Cassandra folds unquoted names to lower case and allows 48 characters.
KEYSPACE_NAME = re.compile(r"[a-z][a-z0-9_]{0,47}")

Names = Annotated[tuple[str, ...], NoDecode]  # comma separated in the variable, never JSON


def checked_keyspace(name: str) -> str:
    """``name`` if it is a plain Cassandra keyspace name; every keyspace that reaches CQL passes here."""
    if not isinstance(name, str) or not KEYSPACE_NAME.fullmatch(name):
        raise ValueError(
            f"keyspace {name!r} is not a valid Cassandra keyspace name: a lower-case letter, then up to "
            "47 lower-case letters, digits or underscores (check KAFKAPIPELINE_KEYSPACE)"
        )
    return name


class SettingsError(ConfigurationError, ValueError):
    """One or more ``KAFKAPIPELINE_*`` variables hold a value of the wrong kind."""


def _doc(*, shown: str | None = None, also: str = "") -> dict[str, Any]:
    """Table extras: ``shown`` replaces a computed default, ``also`` names the scripts reading it too."""
    return {"shown_default": shown, "also_read_by": also} if shown or also else {}


class PipelineSettings(BaseSettings):
    """The package's ``KAFKAPIPELINE_*`` variables (field ``data_root`` is ``KAFKAPIPELINE_DATA_ROOT``)."""

    model_config = SettingsConfigDict(
        alias_generator=AliasGenerator(validation_alias=lambda field: ENV_PREFIX + field.upper()),
        populate_by_name=True,
        case_sensitive=True,
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )

    keyspace: str = Field(
        default="kafkapipeline",
        description="Cassandra keyspace of every table",
        json_schema_extra=_doc(also="scripts/cql, scripts/env.sh"),
    )
    tweets_topic: str = Field(
        default="tweets", description="Topic the tweet ingest writes and the tweet drain reads"
    )
    weather_topic: str = Field(
        default="weather", description="Topic the weather ingest writes and the weather drain reads"
    )
    group_prefix: str = Field(
        default="kafkapipeline", description="Prefix of every consumer group (`<prefix>.<role>.<topic>`)"
    )
    cities: Names = Field(
        default=("Vancouver",),
        description="Cities the export, health, purge and rescore DAGs visit; their `cities` or `city` "
        "Param wins",
    )
    dashboard_cities: Names = Field(
        default=(),
        description="Cities the dashboard offers",
        json_schema_extra=_doc(shown="`KAFKAPIPELINE_CITIES`"),
    )
    dashboard_max_concurrent_requests: int = Field(
        default=2,
        ge=1,
        le=DASHBOARD_MAX_CONCURRENT_REQUESTS_LIMIT,
        description="Dashboard reads one api-server process runs at once, each in a worker process of "
        "its own (started on the first read); more get 429 with `Retry-After`",
    )
    dashboard_cache_seconds: int = Field(
        default=30,
        ge=0,
        le=3600,
        description="Seconds the dashboard reuses a response for the same city and range (0: off)",
    )
    mastodon_hashtags: Names = Field(
        default=DEFAULT_MASTODON_HASHTAGS,
        description="Hashtags the Mastodon source reads unless the connection's extra names others",
    )
    tweets_schedule: str = Field(
        default=DEFAULT_SCHEDULE, description="Cron schedule (UTC) of `ingest_tweets`, read at parse time"
    )
    weather_schedule: str = Field(
        default=DEFAULT_SCHEDULE, description="Cron schedule (UTC) of `ingest_weather`, read at parse time"
    )
    replay_tweets_per_10_minutes: int = Field(
        default=10,
        ge=0,
        le=1000,
        description="Default of `ingest_tweets`' `replay_tweets_per_10_minutes` Param",
    )
    drain_min_batch: int | None = Field(
        default=None,
        ge=1,
        description="Default of the drains' `min_batch` Param",
        json_schema_extra=_doc(shown="the DAG's (tweets 500, weather 20)"),
    )
    drain_max_wait_seconds: int | None = Field(
        default=None,
        ge=1,
        description="Default of the drains' `max_wait_seconds` Param",
        json_schema_extra=_doc(shown="the DAG's (tweets 60, weather 120)"),
    )
    drain_max_messages: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="Default of the drains' `max_messages` Param (per partition group)",
        json_schema_extra=_doc(shown="`50000`"),
    )
    drain_poll_seconds: int | None = Field(
        default=None,
        ge=1,
        description="Seconds between the drain sensors' pokes",
        json_schema_extra=_doc(shown="`5`"),
    )
    drain_follow_seconds: int = Field(
        default=300,
        ge=0,
        le=1200,  # within the drain task's 30-minute execution_timeout, with room for a last batch
        description="Seconds a drain task goes on draining micro-batches after its first, each as soon as "
        "it is ready, while its partitions are not idle (0: one batch a task, the sensor waits between "
        "them, holding no worker)",
    )
    drain_partition_groups: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Default of the drains' `partition_groups` Param: mapped drain tasks per run, "
        "each owning a disjoint set of partitions (1: one task drains every partition)",
    )
    scoring_kernel: Literal["numpy", "compiled", "auto"] = Field(
        default="auto",
        description="How the sentiment model scores: `numpy`, `compiled` (the numba kernel, ~3x faster) "
        "or `auto` (the kernel when the process has it loaded, as Celery workers do for their tasks, "
        "or once it has scored `COMPILED_MIN_TEXTS` texts, 100,000); without numba, numpy",
    )
    retention_days_tweets: int = Field(
        default=0,
        ge=0,
        description="Days of tweets `purge_expired` keeps (0: forever); "
        "the `tweets_retention_days` Param wins",
    )
    retention_days_weather_reports: int = Field(
        default=0,
        ge=0,
        description="Days of weather `purge_expired` keeps "
        "(0: forever); the `weather_retention_days` Param wins",
    )
    health_max_lag: int = Field(
        default=10_000,
        gt=0,
        description="Most messages a partition may be behind before `pipeline_health` fails; its "
        "`max_lag` Param wins",
    )
    health_max_freshness_seconds: int = Field(
        default=3_600,
        gt=0,
        description="Seconds the newest row may be old before `pipeline_health` fails; its Param wins",
    )
    health_max_under_replicated_partitions: int = Field(
        default=0,
        ge=0,
        description="Under-replicated partitions `pipeline_health` tolerates as a warning; more fail it; "
        "its Param wins",
    )
    health_max_offline_brokers: int = Field(
        default=0,
        ge=0,
        description="Offline Kafka brokers `pipeline_health` tolerates as a warning; its Param wins",
    )
    health_max_down_cassandra_nodes: int = Field(
        default=0,
        ge=0,
        description="Down Cassandra nodes `pipeline_health` tolerates as a warning; its Param wins",
    )
    expected_brokers: int | None = Field(
        default=None,
        ge=1,
        description="Kafka brokers the cluster should have (unset: those in the metadata); its Param wins",
    )
    expected_cassandra_nodes: int | None = Field(
        default=None,
        ge=1,
        description="Cassandra nodes the cluster should have (unset: those the driver knows); its Param wins",
    )
    health_dags: Names = Field(
        default=DEFAULT_HEALTH_DAGS,
        description="DAGs whose last run `pipeline_health` reports; its `dag_ids` Param wins",
        json_schema_extra=_doc(shown="the ingest, drain, export and purge DAGs"),
    )
    export_dir: str = Field(
        default="exports",
        description="Folder `export_csv` writes to, inside the data root "
        "(relative: from it); the `export_dir` Param wins",
    )
    data_root: Path | None = Field(
        default=None,
        description="The only folder `import_csv` reads and `export_csv` writes (absolute)",
        json_schema_extra=_doc(shown="`<state>/data`"),
    )
    state: Path | None = Field(
        default=None,
        description="Folder of the local services' data, Airflow home and logs",
        json_schema_extra=_doc(shown="`<repo>/.state`", also="scripts"),
    )
    include_dir: Path | None = Field(
        default=None,
        description="Folder holding the CQL migrations (`cql/`)",
        json_schema_extra=_doc(shown="`<repo>/include`"),
    )
    replication: Replication = Field(
        default=DEFAULT_REPLICATION,
        description="Replication map of the keyspace `bootstrap` creates",
        json_schema_extra=_doc(shown="`SimpleStrategy`, factor 1"),
    )
    write_consistency: WriteConsistency = Field(
        default="LOCAL_QUORUM",
        description="Consistency of every pipeline write to Cassandra (ONE, LOCAL_ONE, ANY refused at RF 3+)",
    )
    read_consistency: ReadConsistency = Field(
        default="LOCAL_QUORUM", description="Default consistency of the pipeline's Cassandra reads"
    )
    topic_replication_factor: int = Field(
        default=1,
        ge=1,
        description="Replication factor of the topics `bootstrap` creates (3 on a cluster)",
    )
    first_run_backfill_hours: int = Field(
        default=24,
        ge=0,
        description="Hours of ingest the run command backfills on a new install (0: off)",
        json_schema_extra=_doc(also="scripts/run-pipeline"),
    )
    asset_kafka_server: str = Field(
        default="127.0.0.1:9092",
        pattern=r"^[^\s/@]+$",
        description="Kafka `host:port` named in the topics' asset URIs and lineage namespace "
        "(`kafka://<it>/<topic>`); a name for the cluster, never connected to",
        json_schema_extra=_doc(also="scripts/env.sh"),
    )
    asset_cassandra_server: str = Field(
        default="127.0.0.1:9042",
        pattern=r"^[^\s/@]+$",
        description="Cassandra `host:port` named in the tables' asset URIs and lineage namespace "
        "(`cassandra://<it>/<keyspace>/<table>`); a name for the cluster, never connected to",
        json_schema_extra=_doc(also="scripts/env.sh"),
    )
    lineage: Literal["off", "console", "file"] = Field(
        default="off",
        description="OpenLineage events of every task: `off`, `console` (the task logs) or `file` "
        "(`<state>/lineage/openlineage.jsonl`); an `AIRFLOW__OPENLINEAGE__TRANSPORT` of your own wins",
        json_schema_extra=_doc(also="scripts/env.sh"),
    )
    metrics: bool = Field(
        default=True,
        description="StatsD metrics of the pipeline and of Airflow itself (`[metrics] statsd_on`) to the "
        "statsd_exporter Prometheus scrapes: `on` or `off` (docs/metrics.md)",
        json_schema_extra=_doc(also="scripts/env.sh"),
    )
    statsd_host: str = Field(
        default="127.0.0.1",
        pattern=r"^[^\s:/@]+$",
        description="Host the StatsD lines go to (Airflow's `[metrics] statsd_host` too)",
        json_schema_extra=_doc(also="scripts/env.sh"),
    )
    statsd_port: int = Field(
        default=9125,
        ge=1,
        le=65535,
        description="UDP port of the statsd_exporter (Airflow's `[metrics] statsd_port` too)",
        json_schema_extra=_doc(also="scripts/env.sh, scripts/services"),
    )

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}
            data = {k: v for k, v in data.items() if v != ""}
        return data

    @field_validator("cities", "dashboard_cities", "mastodon_hashtags", "health_dags", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        strip = "#" if info.field_name == "mastodon_hashtags" else ""
        names = [name.strip().lstrip(strip) for name in value.split(",")]
        unique = tuple(dict.fromkeys(name for name in names if name))
        return unique or cls.model_fields[str(info.field_name)].default

    @field_validator(
        "drain_min_batch", "drain_max_wait_seconds", "drain_poll_seconds", "drain_max_messages", mode="before"
    )
    @classmethod
    def _rounded(cls, value: Any) -> Any:
        try:
            return round(float(value)) if isinstance(value, str) else value
        except ValueError:
            return value  # pydantic then says what is expected

    @model_validator(mode="after")
    def _no_single_replica_writes_on_a_cluster(self) -> PipelineSettings:
        check_pipeline_writes(self.write_consistency, self.replication)
        return self

    @field_validator("keyspace")
    @classmethod
    def _keyspace(cls, value: str) -> str:
        return checked_keyspace(value)


def env_name(field: str) -> str:
    """The variable behind a field: ``data_root`` -> ``KAFKAPIPELINE_DATA_ROOT``."""
    if field not in PipelineSettings.model_fields:
        raise ValueError(f"no setting {field!r}; known: {sorted(PipelineSettings.model_fields)}")
    return ENV_PREFIX + field.upper()


ENV_NAMES = tuple(ENV_PREFIX + field.upper() for field in PipelineSettings.model_fields)


def current() -> PipelineSettings:
    """The settings as the environment holds them now (cached on those variables' values).

    :raises SettingsError: a variable holds a bad value; the message names each one
    """
    return _built(tuple(map(os.environ.get, ENV_NAMES)))


@lru_cache(maxsize=32)
def _built(_values: tuple[str | None, ...]) -> PipelineSettings:
    try:
        return PipelineSettings()
    except ValidationError as err:
        raise _explained(err) from None


def _explained(err: ValidationError) -> SettingsError:
    from kafkapipeline.settings_table import type_label

    problems = []
    for error in err.errors():
        field = str(error["loc"][0]).removeprefix(ENV_PREFIX).lower() if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        if field in PipelineSettings.model_fields:
            expected = type_label(PipelineSettings.model_fields[field])
            name = env_name(field)
            given = os.environ.get(name, error.get("input"))  # as typed, before any rounding
            problems.append(f"{name}={given!r}: {message} (expected {expected})")
        else:
            problems.append(message)
    return SettingsError("bad setting: " + "; ".join(problems))


def param_or_setting(value: Any, field: str) -> Any:
    """The precedence rule: a DAG Param's ``value`` when set (not None, not blank), else the setting."""
    env_name(field)  # an unknown field is a bug, whatever the value
    if value is None or (isinstance(value, str) and not value.strip()):
        return getattr(current(), field)
    return value


def is_set(field: str) -> bool:
    """Whether the variable behind ``field`` is set (non-blank) rather than left at the default."""
    env_name(field)
    return field in current().model_fields_set


def keyspace(name: str | None = None) -> str:
    """The keyspace holding the pipeline's tables: ``name`` when given, else ``KAFKAPIPELINE_KEYSPACE``.

    Checked either way, so no caller interpolates an unchecked name into CQL.
    """
    return checked_keyspace(name) if name else current().keyspace


def tweets_topic() -> str:
    """Topic the tweet ingest produces to and the tweet drain reads from."""
    return current().tweets_topic


def weather_topic() -> str:
    """Topic the weather ingest produces to and the weather drain reads from."""
    return current().weather_topic


def cities() -> list[str]:
    """Cities the pipeline files data under (``KAFKAPIPELINE_CITIES``, comma separated; default Vancouver).

    Tables are partitioned by (city, day), and listing the partitions that exist is a full
    scan, so the maintenance DAGs (export, health, purge) visit the partitions of these cities.
    """
    return list(current().cities)


def mastodon_hashtags() -> list[str]:
    """Hashtags for the Mastodon source (``KAFKAPIPELINE_MASTODON_HASHTAGS``, comma separated)."""
    return list(current().mastodon_hashtags)


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic paired with ``topic``."""
    return f"{topic}{DEAD_LETTER_SUFFIX}"


def consumer_group(role: str, topic: str) -> str:
    """One consumer group per role and topic, so roles never steal each other's offsets."""
    return f"{current().group_prefix}.{role}.{topic}"


def include_dir() -> Path:
    """Folder with the CQL migrations; defaults to the repository's ``include/``."""
    return current().include_dir or REPO_ROOT / "include"


def cql_dir() -> Path:
    return include_dir() / "cql"


def data_root() -> Path:
    """The only folder ``import_csv`` reads from and ``export_csv`` writes to (``KAFKAPIPELINE_DATA_ROOT``).

    Defaults to ``<KAFKAPIPELINE_STATE or the repository's .state>/data``. A DAG Param names a
    path inside it; :mod:`kafkapipeline.csvio.paths` refuses anything that leads out of it.
    """
    settings = current()
    if settings.data_root is not None:
        return settings.data_root.expanduser()
    return (settings.state.expanduser() if settings.state else REPO_ROOT / ".state") / "data"


def drain_setting(name: str, default: int) -> int:
    """Default of a drain knob (``KAFKAPIPELINE_DRAIN_<NAME>``), read when the DAG file is parsed."""
    value = getattr(current(), env_name(f"drain_{name}").removeprefix(ENV_PREFIX).lower())
    return default if value is None else value
