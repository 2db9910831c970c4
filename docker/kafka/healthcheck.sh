#!/usr/bin/env bash
# Healthcheck of docker-compose.yaml's kafka service (mounted read-only at /opt/kafkapipeline):
# healthy once the broker takes the super user's SASL/PLAIN login on its INTERNAL listener and
# answers ApiVersions there.
#
#   bash /opt/kafkapipeline/healthcheck.sh [bootstrap]     (default kafka:9094)
#
# The password comes from KAFKAPIPELINE_KAFKA_ADMIN_PASSWORD (the service's environment) into a
# client properties file readable by this account only; never onto a command line.
set -euo pipefail
umask 077
: "${KAFKAPIPELINE_KAFKA_ADMIN_PASSWORD:?is not set (docker-compose.yaml passes it to the kafka service)}"
config="${TMPDIR:-/tmp}/kafkapipeline-healthcheck.properties"
{
  echo "security.protocol=SASL_PLAINTEXT"
  echo "sasl.mechanism=PLAIN"
  echo "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required" \
    "username=\"admin\" password=\"$KAFKAPIPELINE_KAFKA_ADMIN_PASSWORD\";"
} >"$config"
exec "${KAFKA_HOME:-/opt/kafka}/bin/kafka-broker-api-versions.sh" \
  --bootstrap-server "${1:-kafka:9094}" --command-config "$config" >/dev/null
