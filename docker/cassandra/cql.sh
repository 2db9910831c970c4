#!/usr/bin/env bash
# Cassandra logins for docker-compose.yaml (mounted read-only at /opt/kafkapipeline), the same
# roles scripts/services sets up on the local path:
#
#   cql.sh check [host]        the cassandra service's healthcheck: logs in as the generated
#                              superuser, or (before cassandra-init's first run) as the default one
#   cql.sh setup-roles [host]  the one-shot cassandra-init service: replaces the default superuser
#                              cassandra/cassandra by kafkapipeline_admin, creates the pipeline's role
#                              (LOGIN, its password) with CREATE on all keyspaces (so it owns the
#                              keyspace the bootstrap DAG creates) and ALL on the keyspace if it
#                              already exists. Idempotent: every start runs it again.
#
# host defaults to 127.0.0.1. Passwords come from the environment (KAFKAPIPELINE_CASSANDRA_ADMIN_PASSWORD,
# and for setup-roles KAFKAPIPELINE_CASSANDRA_PASSWORD) into cqlsh credentials files readable by this
# account only; statements that hold a password go to cqlsh on stdin. Nothing secret is ever on a
# command line.
set -euo pipefail
umask 077

ADMIN_ROLE=kafkapipeline_admin
# Cassandra's own first superuser (PasswordAuthenticator creates it; its password is public).
DEFAULT_ROLE=cassandra
DEFAULT_PASSWORD=cassandra
PIPELINE_ROLE="${KAFKAPIPELINE_CASSANDRA_USER:-kafkapipeline}"
KEYSPACE="${KAFKAPIPELINE_KEYSPACE:-kafkapipeline}"

command="${1:-}"
host="${2:-127.0.0.1}"
: "${KAFKAPIPELINE_CASSANDRA_ADMIN_PASSWORD:?is not set (docker-compose.yaml passes it; scripts/compose-secrets writes it into .env)}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# credentials ROLE PASSWORD: cqlsh's credentials file for ROLE (cqlsh ignores one others can read).
credentials() {
  printf '[PlainTextAuthProvider]\nusername = %s\npassword = %s\n' "$1" "$2" >"$work/$1.credentials"
}

# cql ROLE [cqlsh options]: cqlsh as ROLE; statements on stdin unless -e gives one (without secrets).
cql() {
  local role="$1"
  shift
  cqlsh --credentials "$work/$role.credentials" --connect-timeout 10 --request-timeout 30 "$@" "$host" 9042
}

logs_in() {
  cql "$1" -e "SELECT release_version FROM system.local" >/dev/null 2>&1
}

# A CQL string literal.
quote() {
  local q="'"
  printf "'%s'" "${1//$q/$q$q}"
}

credentials "$ADMIN_ROLE" "$KAFKAPIPELINE_CASSANDRA_ADMIN_PASSWORD"
credentials "$DEFAULT_ROLE" "$DEFAULT_PASSWORD"

case "$command" in
  check)
    logs_in "$ADMIN_ROLE" || logs_in "$DEFAULT_ROLE"
    ;;
  setup-roles)
    : "${KAFKAPIPELINE_CASSANDRA_PASSWORD:?is not set (docker-compose.yaml passes it; scripts/compose-secrets writes it into .env)}"
    if ! [[ "$PIPELINE_ROLE" =~ ^[a-z][a-z0-9_]*$ && "$KEYSPACE" =~ ^[A-Za-z][A-Za-z0-9_]*$ ]]; then
      echo "cassandra-init: role '$PIPELINE_ROLE' and keyspace '$KEYSPACE' must be plain CQL names" >&2
      exit 1
    fi
    credentials "$PIPELINE_ROLE" "$KAFKAPIPELINE_CASSANDRA_PASSWORD"
    replaced=""
    if ! logs_in "$ADMIN_ROLE"; then
      if ! logs_in "$DEFAULT_ROLE"; then
        echo "cassandra-init: Cassandra at $host refuses both $ADMIN_ROLE (KAFKAPIPELINE_CASSANDRA_ADMIN_PASSWORD," \
          "set when the cassandra-data volume was created) and the default superuser" >&2
        exit 1
      fi
      cql "$DEFAULT_ROLE" <<<"CREATE ROLE IF NOT EXISTS $ADMIN_ROLE WITH SUPERUSER = true AND LOGIN = true AND PASSWORD = $(quote "$KAFKAPIPELINE_CASSANDRA_ADMIN_PASSWORD");"
      replaced=" (replaced the default superuser)"
    fi
    cql "$ADMIN_ROLE" <<<"DROP ROLE IF EXISTS $DEFAULT_ROLE;"
    cql "$ADMIN_ROLE" <<<"CREATE ROLE IF NOT EXISTS $PIPELINE_ROLE WITH LOGIN = true AND PASSWORD = $(quote "$KAFKAPIPELINE_CASSANDRA_PASSWORD");"
    # Its password changed in .env since the role was made: the new one wins.
    if ! logs_in "$PIPELINE_ROLE"; then
      cql "$ADMIN_ROLE" <<<"ALTER ROLE $PIPELINE_ROLE WITH PASSWORD = $(quote "$KAFKAPIPELINE_CASSANDRA_PASSWORD");"
    fi
    cql "$ADMIN_ROLE" <<<"GRANT CREATE ON ALL KEYSPACES TO $PIPELINE_ROLE;"
    if cql "$ADMIN_ROLE" -e "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = '$KEYSPACE'" \
      | grep -Eqx "[[:space:]]*$KEYSPACE[[:space:]]*"; then
      # Made before its role existed (by another login): granted, as the role's own keyspace would be.
      cql "$ADMIN_ROLE" <<<"GRANT ALL PERMISSIONS ON KEYSPACE $KEYSPACE TO $PIPELINE_ROLE;"
    fi
    echo "cassandra-init: roles $ADMIN_ROLE (superuser) and $PIPELINE_ROLE (the pipeline's) in place$replaced"
    ;;
  *)
    echo "usage: cql.sh check|setup-roles [host]" >&2
    exit 2
    ;;
esac
