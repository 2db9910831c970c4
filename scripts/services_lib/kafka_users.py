"""Create the pipeline's Kafka users (SCRAM-SHA-512) and their ACLs, as the broker's super user.

Run by ``scripts/services up`` with the project's .venv Python (it needs confluent-kafka and the roles
of plugins/kafkapipeline/kafka/roles.py): ``python -m services_lib.kafka_users <bootstrap>``, where
``<bootstrap>`` lists the brokers' INTERNAL listeners. Passwords come from the secrets folder (or their
``KAFKAPIPELINE_KAFKA_<ROLE>_PASSWORD`` variables), never from the command line. Idempotent.
"""

from __future__ import annotations

import sys

from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from kafkapipeline.kafka.roles import KafkaRole, role_grants

from .common import ServiceError, secret, state_root

ADMIN_USER = "admin"
#: Kafka's default for SCRAM-SHA-512, and what the broker accepts at most is 16384.
SCRAM_ITERATIONS = 8192


def role_password(role: KafkaRole) -> str:
    return secret(state_root(), f"kafka-{role.value}", f"KAFKAPIPELINE_KAFKA_{role.name}_PASSWORD")


def admin_client(bootstrap: str) -> AdminClient:
    return AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": ADMIN_USER,
            "sasl.password": secret(state_root(), "kafka-admin", "KAFKAPIPELINE_KAFKA_ADMIN_PASSWORD"),
        }
    )


def provision(bootstrap: str, timeout: float = 60.0) -> str:
    admin = admin_client(bootstrap)
    mechanism = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    upserts = [
        UserScramCredentialUpsertion(role.username, mechanism, role_password(role).encode())
        for role in KafkaRole
    ]
    failures = []
    for user, future in admin.alter_user_scram_credentials(upserts, request_timeout=timeout).items():
        try:
            future.result()
        except Exception as err:
            failures.append(f"user {user}: {err}")
    bindings = [binding for grants in role_grants() for binding in grants.bindings()]
    for binding, future in admin.create_acls(bindings, request_timeout=timeout).items():
        try:
            future.result()
        except Exception as err:
            failures.append(f"ACL {binding}: {err}")
    if failures:
        listed = "\n  ".join(failures)
        raise ServiceError(f"kafka: could not create the pipeline's users and ACLs:\n  {listed}")
    return f"{len(upserts)} SCRAM-SHA-512 users and {len(bindings)} ACLs in place"


if __name__ == "__main__":
    try:
        print(provision(sys.argv[1]))
    except ServiceError as e:
        print(e, file=sys.stderr)
        sys.exit(1)
