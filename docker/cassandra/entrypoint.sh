#!/usr/bin/env bash
# Entrypoint of docker-compose.yaml's cassandra service (mounted read-only at /opt/kafkapipeline):
# turns on logins and permissions in the image's cassandra.yaml, then runs the image's own
# docker-entrypoint.sh with the service's command. The official image has no setting for them.
#
#   authenticator: PasswordAuthenticator   every client logs in
#   authorizer: CassandraAuthorizer        a role does only what it was granted
#
# Whichever form the file holds (`authenticator: X`, or `authenticator:` with an indented
# `class_name: X` block as newer cassandra.yaml files have), the key becomes the one-line form,
# which Cassandra 5 reads as well. Idempotent: a restarted container finds the file already done.
# The default superuser cassandra/cassandra that Cassandra then creates is replaced by
# cql.sh setup-roles (the cassandra-init service).
set -euo pipefail
yaml="${CASSANDRA_CONF:-/etc/cassandra}/cassandra.yaml"

set_class() {
  local key="$1" value="$2" tmp
  tmp="$(mktemp)"
  # The key's line, then any indented lines right under it (its old class_name/parameters block).
  awk -v key="$key" -v value="$value" '
    replacing && /^[[:space:]]+/ { next }
    { replacing = 0 }
    index($0, key ":") == 1 { print key ": " value; replacing = 1; next }
    { print }
  ' "$yaml" >"$tmp"
  # Written in place (not moved), like docker-entrypoint.sh does: the file may be a bind mount.
  cat "$tmp" >"$yaml"
  rm -f "$tmp"
  if ! grep -qx "$key: $value" "$yaml"; then
    echo "cassandra entrypoint: $yaml has no '$key:' line to set to $value" >&2
    exit 1
  fi
}

set_class authenticator PasswordAuthenticator
set_class authorizer CassandraAuthorizer
exec docker-entrypoint.sh "$@"
