# shellcheck shell=bash
# The project's environment for Airflow and the pipeline, sourced by the Makefile,
# scripts/run-pipeline and the test suite (tests/conftest.py). Anything already set in
# the caller's environment wins, so a user can point the pipeline elsewhere.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
export KAFKAPIPELINE_STATE="${KAFKAPIPELINE_STATE:-$REPO_ROOT/.state}"
export KAFKA_PORT="${KAFKA_PORT:-9092}"
export CASSANDRA_PORT="${CASSANDRA_PORT:-9042}"

export AIRFLOW_HOME="${AIRFLOW_HOME:-$KAFKAPIPELINE_STATE/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$REPO_ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$REPO_ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-True}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:-$AIRFLOW_HOME/simple_auth_manager_passwords.json}"
export AIRFLOW__API__PORT="${AIRFLOW__API__PORT:-8080}"
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
# Tasks report to the api-server's execution API; it must follow the chosen port.
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-http://127.0.0.1:$AIRFLOW__API__PORT/execution/}"
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}"
export AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=True
export AIRFLOW__LOGGING__LOGGING_LEVEL="${AIRFLOW__LOGGING__LOGGING_LEVEL:-INFO}"
# The embedded SQLite metadata database: writers wait up to 30 s for its lock rather than 5 s
# (see plugins/kafkapipeline/airflow_db.py). Not set for another database (e.g. Postgres).
case "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite}" in
  sqlite*)
    export AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS:-kafkapipeline.airflow_db.SQLITE_CONNECT_ARGS}"
    export AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC:-kafkapipeline.airflow_db.SQLITE_CONNECT_ARGS_ASYNC}"
    ;;
esac
# Dotted paths of the librdkafka callbacks (error_cb, oauth_cb, ...) a Kafka connection extra may
# name; empty: none (the Kafka provider refuses any that is not listed).
export AIRFLOW__APACHE_KAFKA__CALLBACK_ALLOWLIST="${AIRFLOW__APACHE_KAFKA__CALLBACK_ALLOWLIST:-}"

# Connections as environment variables (Airflow reads AIRFLOW_CONN_<ID>). Kafka client
# settings go in the extra; consumer groups are chosen per role by the code.
# (Defaults kept in plain variables: JSON braces inside ${VAR:-...} would end the expansion early.)
_kafka_conn="{\"conn_type\": \"kafka\", \"extra\": {\"bootstrap.servers\": \"127.0.0.1:$KAFKA_PORT\"}}"
_cassandra_conn="{\"conn_type\": \"cassandra\", \"host\": \"127.0.0.1\", \"port\": $CASSANDRA_PORT, \"extra\": {\"protocol_version\": 5, \"load_balancing_policy\": \"DCAwareRoundRobinPolicy\", \"load_balancing_policy_args\": {\"local_dc\": \"datacenter1\"}}}"
export AIRFLOW_CONN_KAFKA_DEFAULT="${AIRFLOW_CONN_KAFKA_DEFAULT:-$_kafka_conn}"
export AIRFLOW_CONN_CASSANDRA_DEFAULT="${AIRFLOW_CONN_CASSANDRA_DEFAULT:-$_cassandra_conn}"
unset _kafka_conn _cassandra_conn

export KAFKAPIPELINE_KEYSPACE="${KAFKAPIPELINE_KEYSPACE:-kafkapipeline}"
export PYTHONPATH="$REPO_ROOT/plugins${PYTHONPATH:+:$PYTHONPATH}"
