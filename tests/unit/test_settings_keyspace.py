"""Every keyspace that reaches CQL passes one check (settings.checked_keyspace)."""

from __future__ import annotations

import pytest

from kafkapipeline import settings
from kafkapipeline.cassandra.migrations import MigrationError, apply_pending
from kafkapipeline.errors import ConfigurationError
from kafkapipeline.maintenance.retention import purge_expired


@pytest.mark.parametrize("name", ["kafkapipeline", "test_0a1b2c3d4e", "k", "a" * 48])
def test_plain_lower_case_names_pass(name):
    assert settings.checked_keyspace(name) == name


@pytest.mark.parametrize(
    "name", ["", "1abc", "_x", "Kafka", "ks; DROP TABLE x", "ks.tweets", 'ks"', "a" * 49, "ks\n"]
)
def test_names_that_could_inject_or_surprise_are_refused(name):
    with pytest.raises(ValueError, match="not a valid Cassandra keyspace name"):
        settings.checked_keyspace(name)


def test_the_environment_is_checked_too(monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_KEYSPACE", "x; DROP KEYSPACE system")
    with pytest.raises(ValueError, match="KAFKAPIPELINE_KEYSPACE"):
        settings.keyspace()
    assert settings.keyspace("given_one") == "given_one"


def test_an_explicit_name_wins_over_the_environment_and_is_checked(monkeypatch):
    monkeypatch.setenv("KAFKAPIPELINE_KEYSPACE", "from_env")
    assert settings.keyspace() == "from_env"
    with pytest.raises(ValueError):
        settings.keyspace("bad-name")


def test_the_entry_points_refuse_before_touching_cassandra():
    # No session is needed: the name is refused before any statement is built.
    with pytest.raises(MigrationError, match="not a valid Cassandra keyspace name"):
        apply_pending(object(), "ks; DROP TABLE x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a valid Cassandra keyspace name"):
        purge_expired(keyspace="bad name")


def test_the_dashboard_answers_a_bad_name_as_a_configuration_error():
    from kafkapipeline.dashboard.queries import checked_keyspace

    with pytest.raises(ConfigurationError):
        checked_keyspace("Bad")
