"""``PipelineKafkaHook``: one connection, the provider's config resolution, the pipeline's safety settings."""

from __future__ import annotations

import json

import pytest

from kafkapipeline.errors import ConfigurationError
from kafkapipeline.kafka.hook import CONSUMER_SAFETY, PRODUCER_SAFETY, PipelineKafkaHook
from kafkapipeline.kafka.roles import KafkaRole

CONN_ID = "kafka_hook_test"
ENV_VAR = f"AIRFLOW_CONN_{CONN_ID.upper()}"
CALLBACK_PATH = f"{__name__}.record_error"


def record_error(_error) -> None:
    """An error callback a connection extra can name by its dotted path."""


def use_connection(monkeypatch, extra: dict) -> PipelineKafkaHook:
    monkeypatch.setenv(ENV_VAR, json.dumps({"conn_type": "kafka", "extra": extra}))
    return PipelineKafkaHook(kafka_config_id=CONN_ID)


def test_producers_and_consumers_get_the_safety_settings_over_the_extra(monkeypatch):
    hook = use_connection(
        monkeypatch,
        {"bootstrap.servers": "127.0.0.1:1", "enable.auto.commit": True, "acks": "1", "client.id": "x"},
    )
    producer = hook.producer_config()
    consumer = hook.consumer_config("kafkapipeline.drain.tweets")
    assert {k: producer[k] for k in PRODUCER_SAFETY} == PRODUCER_SAFETY
    assert {k: consumer[k] for k in CONSUMER_SAFETY} == CONSUMER_SAFETY
    assert consumer["group.id"] == "kafkapipeline.drain.tweets"
    assert "enable.auto.commit" not in producer and "acks" not in consumer
    assert producer["client.id"] == consumer["client.id"] == hook.admin_config()["client.id"] == "x"


def test_an_allow_listed_callback_in_the_extra_is_resolved_like_the_provider_does(monkeypatch):
    monkeypatch.setenv("AIRFLOW__APACHE_KAFKA__CALLBACK_ALLOWLIST", CALLBACK_PATH)
    hook = use_connection(monkeypatch, {"bootstrap.servers": "127.0.0.1:1", "error_cb": CALLBACK_PATH})
    assert hook.producer_config()["error_cb"] is record_error
    assert hook.consumer_config("g")["error_cb"] is record_error


def test_a_callback_not_allow_listed_is_refused_with_the_setting_to_change(monkeypatch):
    monkeypatch.delenv("AIRFLOW__APACHE_KAFKA__CALLBACK_ALLOWLIST", raising=False)
    hook = use_connection(monkeypatch, {"bootstrap.servers": "127.0.0.1:1", "error_cb": CALLBACK_PATH})
    with pytest.raises(ConfigurationError, match=rf"'{CONN_ID}'.*callback_allowlist"):
        hook.producer_config()


def test_a_connection_without_bootstrap_servers_says_what_to_set(monkeypatch):
    hook = use_connection(monkeypatch, {"client.id": "x"})
    with pytest.raises(ConfigurationError, match=r"has no 'bootstrap.servers' in its extra"):
        hook.consumer_config("g")


def test_a_missing_connection_names_the_variable_to_set(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(ConfigurationError, match=ENV_VAR):
        PipelineKafkaHook(kafka_config_id=CONN_ID).producer_config()


def test_building_the_hook_reads_no_connection(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    PipelineKafkaHook(kafka_config_id=CONN_ID)  # parse-time safe: no lookup until a client is built
    with pytest.raises(ValueError, match="non-empty connection id"):
        PipelineKafkaHook(kafka_config_id="")


def test_a_role_without_its_own_connection_uses_kafka_default(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_KAFKA_DRAIN", raising=False)
    monkeypatch.setenv(
        "AIRFLOW_CONN_KAFKA_DEFAULT",
        json.dumps(
            {"conn_type": "kafka", "extra": {"bootstrap.servers": "127.0.0.1:1", "client.id": "owner"}}
        ),
    )
    hook = PipelineKafkaHook(kafka_config_id=KafkaRole.DRAIN.conn_id)
    assert hook.consumer_config("g")["client.id"] == "owner"
    assert hook.kafka_config_id == "kafka_default"


def test_a_role_with_its_own_connection_uses_it(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_KAFKA_DRAIN",
        json.dumps(
            {"conn_type": "kafka", "extra": {"bootstrap.servers": "127.0.0.1:1", "sasl.username": "d"}}
        ),
    )
    assert PipelineKafkaHook(KafkaRole.DRAIN.conn_id).producer_config()["sasl.username"] == "d"


def test_a_missing_connection_that_is_no_role_does_not_fall_back(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_KAFKA_DRAIN_TYPO", raising=False)
    monkeypatch.setenv(
        "AIRFLOW_CONN_KAFKA_DEFAULT",
        json.dumps({"conn_type": "kafka", "extra": {"bootstrap.servers": "x:1"}}),
    )
    with pytest.raises(ConfigurationError, match="AIRFLOW_CONN_KAFKA_DRAIN_TYPO"):
        PipelineKafkaHook(kafka_config_id="kafka_drain_typo").producer_config()
