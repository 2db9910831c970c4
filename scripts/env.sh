# shellcheck shell=bash
# The project's environment for Airflow and the pipeline, sourced by the Makefile,
# scripts/run-pipeline and the test suite (tests/conftest.py). Anything already set in
# the caller's environment wins, so a user can point the pipeline elsewhere.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
# The project's .venv first, so the `airflow ...` commands of docs/operations.md work in this shell (once,
# however often this file is sourced).
case ":${PATH:-}:" in
  *":$REPO_ROOT/.venv/bin:"*) ;;
  *) export PATH="$REPO_ROOT/.venv/bin${PATH:+:$PATH}" ;;
esac
export KAFKAPIPELINE_STATE="${KAFKAPIPELINE_STATE:-$REPO_ROOT/.state}"
# What the pipeline and its services write (data, logs, passwords) is readable by this account only.
umask 077
export KAFKA_PORT="${KAFKA_PORT:-9092}"
export CASSANDRA_PORT="${CASSANDRA_PORT:-9042}"

export AIRFLOW_HOME="${AIRFLOW_HOME:-$KAFKAPIPELINE_STATE/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$REPO_ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$REPO_ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-True}"
# admin for people; health, read-only, for pipeline_health (scripts/run-pipeline makes their passwords).
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin,health:viewer}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:-$AIRFLOW_HOME/simple_auth_manager_passwords.json}"
export AIRFLOW__API__PORT="${AIRFLOW__API__PORT:-8080}"
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
# Tasks report to the api-server's execution API; it must follow the chosen port.
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-http://127.0.0.1:$AIRFLOW__API__PORT/execution/}"
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}"
# An unchanged DAG file is parsed again every 10 min, not 30 s: the files read nothing at parse time, and
# a changed one is parsed at once (the default file_parsing_sort_mode, modified_time). Saves ~10% of a core.
export AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="${AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL:-600}"
export AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=True
# Its health server on loopback only (Airflow's default is every interface).
export AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST="${AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST:-127.0.0.1}"
export AIRFLOW__LOGGING__LOGGING_LEVEL="${AIRFLOW__LOGGING__LOGGING_LEVEL:-INFO}"
export POSTGRES_PORT="${POSTGRES_PORT:-5432}"
export REDIS_PORT="${REDIS_PORT:-6379}"

# A password for Postgres or Redis: KAFKAPIPELINE_<NAME>_PASSWORD if set, else the file
# <state>/secrets/<name>.password, created once (0600) by whichever comes first, this file or
# scripts/services up, with the same no-clobber link so both read one value. Never in the repo.
_kafkapipeline_secret() {
  local file="$KAFKAPIPELINE_STATE/secrets/$1.password" tmp
  if [ ! -s "$file" ]; then
    mkdir -p "$KAFKAPIPELINE_STATE/secrets" && chmod 700 "$KAFKAPIPELINE_STATE/secrets"
    tmp="$(umask 077 && mktemp "$KAFKAPIPELINE_STATE/secrets/.$1.XXXXXX")"
    od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$tmp"
    ln "$tmp" "$file" 2>/dev/null || true
    rm -f "$tmp"
  fi
  cat "$file"
}

# Airflow's metadata database: the local Postgres of scripts/services by default;
# KAFKAPIPELINE_METADATA_DB=sqlite for the embedded SQLite file, or set
# AIRFLOW__DATABASE__SQL_ALCHEMY_CONN yourself (it wins).
export KAFKAPIPELINE_METADATA_DB="${KAFKAPIPELINE_METADATA_DB:-postgres}"
export KAFKAPIPELINE_POSTGRES_USER="${KAFKAPIPELINE_POSTGRES_USER:-airflow}"
export KAFKAPIPELINE_POSTGRES_DB="${KAFKAPIPELINE_POSTGRES_DB:-airflow}"
_pg_password="${KAFKAPIPELINE_POSTGRES_PASSWORD:-$(_kafkapipeline_secret postgres)}"
_pg_url="$KAFKAPIPELINE_POSTGRES_USER:$_pg_password@127.0.0.1:$POSTGRES_PORT/$KAFKAPIPELINE_POSTGRES_DB"
case "$KAFKAPIPELINE_METADATA_DB" in
  postgres) _metadata_conn="postgresql+psycopg2://$_pg_url" ;;
  sqlite) _metadata_conn="sqlite:///$AIRFLOW_HOME/airflow.db" ;;
  *) echo "scripts/env.sh: KAFKAPIPELINE_METADATA_DB must be postgres or sqlite, not '$KAFKAPIPELINE_METADATA_DB'" >&2
     _metadata_conn="" ;;
esac
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-$_metadata_conn}"
# SQLite lets one writer in at a time: writers wait up to 30 s for its lock rather than 5 s
# (see plugins/kafkapipeline/runtime/airflow_db.py). Not set for another database.
case "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" in
  sqlite*)
    export AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS:-kafkapipeline.runtime.airflow_db.SQLITE_CONNECT_ARGS}"
    export AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC:-kafkapipeline.runtime.airflow_db.SQLITE_CONNECT_ARGS_ASYNC}"
    ;;
esac

# The executor: KAFKAPIPELINE_EXECUTOR=celery (the default: scripts/airflow-components runs
# KAFKAPIPELINE_CELERY_WORKERS Celery workers) or local (tasks run as the scheduler's
# subprocesses, no Redis needed). The SQLite mode always runs local (one writer at a time:
# Celery's result backend and workers would only queue on its lock). An
# AIRFLOW__CORE__EXECUTOR of your own wins over both.
case "$KAFKAPIPELINE_METADATA_DB" in
  sqlite) export KAFKAPIPELINE_EXECUTOR=local ;;
  *) export KAFKAPIPELINE_EXECUTOR="${KAFKAPIPELINE_EXECUTOR:-celery}" ;;
esac
case "$KAFKAPIPELINE_EXECUTOR" in
  celery) _executor=CeleryExecutor ;;
  local) _executor=LocalExecutor ;;
  *) echo "scripts/env.sh: KAFKAPIPELINE_EXECUTOR must be celery or local, not '$KAFKAPIPELINE_EXECUTOR'" >&2
     _executor=CeleryExecutor ;;
esac
export AIRFLOW__CORE__EXECUTOR="${AIRFLOW__CORE__EXECUTOR:-$_executor}"
unset _executor

# Celery (AIRFLOW__CORE__EXECUTOR=CeleryExecutor; scripts/airflow-components starts the
# workers): the local Redis as broker, the local Postgres as result backend.
_redis_password="${KAFKAPIPELINE_REDIS_PASSWORD:-$(_kafkapipeline_secret redis)}"
export AIRFLOW__CELERY__BROKER_URL="${AIRFLOW__CELERY__BROKER_URL:-redis://:$_redis_password@127.0.0.1:$REDIS_PORT/0}"
export AIRFLOW__CELERY__RESULT_BACKEND="${AIRFLOW__CELERY__RESULT_BACKEND:-db+postgresql+psycopg2://$_pg_url}"
export KAFKAPIPELINE_CELERY_WORKERS="${KAFKAPIPELINE_CELERY_WORKERS:-2}"
# Task slots per worker: sensors defer to the triggerer, so slots are for drains and ingests.
export AIRFLOW__CELERY__WORKER_CONCURRENCY="${AIRFLOW__CELERY__WORKER_CONCURRENCY:-4}"
# A task's message is acknowledged when the task ends, and a worker takes one at a time, so a
# killed worker's message goes back to the queue instead of being lost with it.
export AIRFLOW__CELERY__TASK_ACKS_LATE="${AIRFLOW__CELERY__TASK_ACKS_LATE:-True}"
export AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER="${AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER:-1}"
# Airflow's Celery settings plus a worker_init hook that loads the sentiment kernel once per worker,
# so the tasks it forks inherit it (plugins/kafkapipeline/runtime/celery_config.py).
export AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS="${AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS:-kafkapipeline.runtime.celery_config.CELERY_CONFIG}"
# Redis re-delivers an unacknowledged message after this many seconds (the provider's default
# is 24 h). Longer than any task runs here (a drain is bounded); the failover itself comes
# from the heartbeat timeout below, which fails or retries the task first.
export AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT="${AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT:-900}"
# A task whose supervisor stops heartbeating (its worker was SIGKILLed) is failed, and retried
# when it has retries left, after 30 s instead of 300 s; supervisors heartbeat every
# [workers] min_heartbeat_interval (5 s), the scheduler checks every 5 s.
export AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="${AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT:-30}"
export AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="${AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL:-5}"
# An idle scheduler loop sleeps 0.25 s instead of 1 s: each micro-batch is a chain of scheduling
# steps (the sensor's trigger, its resumption, the drain), each waiting for the next loop; this
# took freshness p95 from 11.2 s to 9.0 s at 20 msg/s when a batch was four task starts, measured
# back to back (bench/freshness_benchmark.py).
export AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME="${AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME:-0.25}"
unset _pg_password _pg_url _metadata_conn _redis_password
# OpenLineage: off unless KAFKAPIPELINE_LINEAGE=file|console, or your own AIRFLOW__OPENLINEAGE__TRANSPORT (it wins).
export AIRFLOW__OPENLINEAGE__EXTRACTORS="${AIRFLOW__OPENLINEAGE__EXTRACTORS:-kafkapipeline.lineage.extractor.PipelineTaskExtractor}"
export AIRFLOW__OPENLINEAGE__NAMESPACE="${AIRFLOW__OPENLINEAGE__NAMESPACE:-kafkapipeline}"
case "${KAFKAPIPELINE_LINEAGE:-off}" in
  file) mkdir -p "$KAFKAPIPELINE_STATE/lineage"
        _lineage="{\"type\": \"file\", \"log_file_path\": \"$KAFKAPIPELINE_STATE/lineage/openlineage.jsonl\", \"append\": true}" ;;
  console) _lineage='{"type": "console"}' ;;
  off) _lineage="" ;;
  *) echo "scripts/env.sh: KAFKAPIPELINE_LINEAGE must be off, console or file, not '$KAFKAPIPELINE_LINEAGE'" >&2; _lineage="" ;;
esac
if [ -n "$_lineage" ]; then export AIRFLOW__OPENLINEAGE__TRANSPORT="${AIRFLOW__OPENLINEAGE__TRANSPORT:-$_lineage}"; fi
unset _lineage
# ---- Metrics (docs/metrics.md) -----------------------------------------------------------------
# Airflow's own metrics over StatsD to the statsd-exporter of scripts/services (UDP, loopback), the same
# address the pipeline's metrics go to (plugins/kafkapipeline/metrics); Prometheus scrapes the exporter.
# StatsD rather than OTel: no collector to run. InfluxDB-style tags give the Prometheus labels (dag_id,
# task_id...), legacy names (ids inside the name) are off. KAFKAPIPELINE_METRICS=off: neither sends.
export KAFKAPIPELINE_METRICS="${KAFKAPIPELINE_METRICS:-on}"
export KAFKAPIPELINE_STATSD_HOST="${KAFKAPIPELINE_STATSD_HOST:-127.0.0.1}"
export KAFKAPIPELINE_STATSD_PORT="${KAFKAPIPELINE_STATSD_PORT:-9125}"
case "$KAFKAPIPELINE_METRICS" in
  on|true|True|1) _statsd_on=True ;;
  off|false|False|0) _statsd_on=False ;;
  *) echo "scripts/env.sh: KAFKAPIPELINE_METRICS must be on or off, not '$KAFKAPIPELINE_METRICS'" >&2; _statsd_on=False ;;
esac
export AIRFLOW__METRICS__STATSD_ON="${AIRFLOW__METRICS__STATSD_ON:-$_statsd_on}"
export AIRFLOW__METRICS__STATSD_HOST="${AIRFLOW__METRICS__STATSD_HOST:-$KAFKAPIPELINE_STATSD_HOST}"
export AIRFLOW__METRICS__STATSD_PORT="${AIRFLOW__METRICS__STATSD_PORT:-$KAFKAPIPELINE_STATSD_PORT}"
export AIRFLOW__METRICS__STATSD_PREFIX="${AIRFLOW__METRICS__STATSD_PREFIX:-airflow}"
export AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED="${AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED:-True}"
export AIRFLOW__METRICS__LEGACY_NAMES_ON="${AIRFLOW__METRICS__LEGACY_NAMES_ON:-False}"
export PROMETHEUS_PORT="${PROMETHEUS_PORT:-9090}"
unset _statsd_on
# ---- end of metrics ---------------------------------------------------------------------------------
# Dotted paths of the librdkafka callbacks (error_cb, oauth_cb, ...) a Kafka connection extra may
# name; empty: none (the Kafka provider refuses any that is not listed).
export AIRFLOW__APACHE_KAFKA__CALLBACK_ALLOWLIST="${AIRFLOW__APACHE_KAFKA__CALLBACK_ALLOWLIST:-}"

# Connections as environment variables (Airflow reads AIRFLOW_CONN_<ID>). Kafka client
# settings go in the extra; consumer groups are chosen per role by the code.
# (Defaults kept in plain variables: JSON braces inside ${VAR:-...} would end the expansion early.)
_kafka_servers="127.0.0.1:$KAFKA_PORT"
# The pipeline's Cassandra role (scripts/services creates it, with a generated password).
_cassandra_user="${KAFKAPIPELINE_CASSANDRA_USER:-kafkapipeline}"
_cassandra_password="${KAFKAPIPELINE_CASSANDRA_PASSWORD:-$(_kafkapipeline_secret cassandra)}"
_cassandra_conn="{\"conn_type\": \"cassandra\", \"host\": \"127.0.0.1\", \"port\": $CASSANDRA_PORT, \"login\": \"$_cassandra_user\", \"password\": \"$_cassandra_password\", \"extra\": {\"protocol_version\": 5, \"load_balancing_policy\": \"DCAwareRoundRobinPolicy\", \"load_balancing_policy_args\": {\"local_dc\": \"datacenter1\"}}}"
# KAFKAPIPELINE_CLUSTER=1 (scripts/services up --cluster): every broker and every contact point,
# and replication factor 3 for the keyspace and the topics unless set otherwise.
if [ "${KAFKAPIPELINE_CLUSTER:-}" = 1 ]; then
  export KAFKAPIPELINE_REPLICATION="${KAFKAPIPELINE_REPLICATION:-{'class': 'SimpleStrategy', 'replication_factor': 3\}}"
  export KAFKAPIPELINE_TOPIC_REPLICATION_FACTOR="${KAFKAPIPELINE_TOPIC_REPLICATION_FACTOR:-3}"
  export KAFKAPIPELINE_EXPECTED_BROKERS="${KAFKAPIPELINE_EXPECTED_BROKERS:-3}"
  export KAFKAPIPELINE_EXPECTED_CASSANDRA_NODES="${KAFKAPIPELINE_EXPECTED_CASSANDRA_NODES:-3}"
  _addrs="$(printf '%s' "${KAFKAPIPELINE_CLUSTER_ADDRESSES:-127.0.0.1,127.0.0.2,127.0.0.3}" | tr -d ' ')"
  _kafka_servers="$(printf '%s' "$_addrs" | sed "s/,/:$KAFKA_PORT,/g"):$KAFKA_PORT"
  _cassandra_conn="$(printf '%s' "$_cassandra_conn" | sed "s/\"host\": \"127.0.0.1\"/\"host\": \"$_addrs\"/")"
  export KAFKAPIPELINE_ASSET_KAFKA_SERVER="${KAFKAPIPELINE_ASSET_KAFKA_SERVER:-${_addrs%%,*}:$KAFKA_PORT}"
  export KAFKAPIPELINE_ASSET_CASSANDRA_SERVER="${KAFKAPIPELINE_ASSET_CASSANDRA_SERVER:-${_addrs%%,*}:$CASSANDRA_PORT}"
  unset _addrs
fi
# Asset URIs and lineage namespaces name the clusters the connections reach (docs/assets.md).
export KAFKAPIPELINE_ASSET_KAFKA_SERVER="${KAFKAPIPELINE_ASSET_KAFKA_SERVER:-127.0.0.1:$KAFKA_PORT}"
export KAFKAPIPELINE_ASSET_CASSANDRA_SERVER="${KAFKAPIPELINE_ASSET_CASSANDRA_SERVER:-127.0.0.1:$CASSANDRA_PORT}"
# The local broker takes SASL/SCRAM-SHA-512 only, one user per role (plugins/kafkapipeline/kafka/roles.py;
# scripts/services creates them): kafka_default (the topics' owner) plus kafka_ingest, kafka_drain,
# kafka_replay and kafka_health. With a kafka_default of your own, the role connections are yours to
# set; a role without one uses kafka_default.
_kafka_conn() {
  printf '{"conn_type": "kafka", "extra": {"bootstrap.servers": "%s", "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "kafkapipeline-%s", "sasl.password": "%s"}}' \
    "$_kafka_servers" "$1" "$2"
}
if [ -z "${AIRFLOW_CONN_KAFKA_DEFAULT:-}" ]; then
  for _role in pipeline ingest drain replay health; do
    _var="AIRFLOW_CONN_KAFKA_${_role^^}"
    [ "$_role" = pipeline ] && _var=AIRFLOW_CONN_KAFKA_DEFAULT
    _pw_var="KAFKAPIPELINE_KAFKA_${_role^^}_PASSWORD"
    [ -n "${!_var:-}" ] || export "$_var=$(_kafka_conn "$_role" "${!_pw_var:-$(_kafkapipeline_secret "kafka-$_role")}")"
  done
  unset _role _var _pw_var
fi
export AIRFLOW_CONN_KAFKA_DEFAULT
export AIRFLOW_CONN_CASSANDRA_DEFAULT="${AIRFLOW_CONN_CASSANDRA_DEFAULT:-$_cassandra_conn}"
unset _kafka_servers _cassandra_conn _cassandra_user _cassandra_password
unset -f _kafka_conn _kafkapipeline_secret

export KAFKAPIPELINE_KEYSPACE="${KAFKAPIPELINE_KEYSPACE:-kafkapipeline}"
export PYTHONPATH="$REPO_ROOT/plugins${PYTHONPATH:+:$PYTHONPATH}"
