"""Param limits: a manual trigger cannot inject what the drain would later refuse.

Each DAG is imported from its file (as Airflow parses it) and its Params resolve the values
a trigger's conf would carry; Airflow runs exactly this validation when a run is triggered.
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path

import pytest
from airflow.sdk.exceptions import ParamValidationError

from kafkapipeline.errors import ConfigurationError
from kafkapipeline.params.limits import CITY_SPEC_MAX_CHARS, DAG_ID_MAX_CHARS, check_city, check_city_spec
from kafkapipeline.streams.base import CITY_MAX_CHARS, InvalidRecord
from kafkapipeline.streams.tweets import TweetRecord
from kafkapipeline.streams.weather import WeatherRecord

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"


def dag_params(dag_id: str):
    spec = importlib.util.spec_from_file_location(f"param_limits_{dag_id}", DAGS_FOLDER / f"{dag_id}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dags = [value for value in vars(module).values() if type(value).__name__ == "DAG"]
    if not dags:  # @dag-decorated files keep only the factory; the DAG is built when it is called
        dags = [getattr(module, dag_id)()]
    return dags[0].params


def resolves(dag_id: str, name: str, value) -> bool:
    try:
        dag_params(dag_id).get_param(name).resolve(value)
    except ParamValidationError:
        return False
    return True


LONG_CITY = "x" * (CITY_MAX_CHARS + 1)


@pytest.mark.parametrize(
    ("dag_id", "name", "good", "bad"),
    [
        ("ingest_tweets", "city", "North Vancouver", LONG_CITY),
        ("ingest_tweets", "city", "x" * CITY_MAX_CHARS, "x" * 70_000),
        ("ingest_tweets", "city", "Burnaby", "Bur\nnaby"),
        ("ingest_tweets", "query", "rain lang:en", "rain\x00"),
        ("ingest_tweets", "query", "q" * 512, "q" * 513),
        ("ingest_tweets", "max_pages", 50, 51),
        ("ingest_tweets", "replay_tweets_per_10_minutes", 1000, 10**9),
        ("ingest_weather", "cities", ["Whistler=50.1163,-122.9574"], [f"{LONG_CITY}=49,-123"]),
        ("ingest_weather", "cities", ["49.2827,-123.1207"], ["Whistler=50.1,-122.9;DROP"]),
        ("ingest_weather", "cities", ["Burnaby"], ["a=b=49,-123"]),
        ("ingest_weather", "cities", ["Surrey"], ["Surrey"] * 21),
        ("ingest_weather", "cities", ["Surrey"], ["Surrey=" + "1" * CITY_SPEC_MAX_CHARS]),
        ("pipeline_health", "cities", ["Vancouver"], [LONG_CITY]),
        ("pipeline_health", "dag_ids", ["drain_tweets"], ["drain tweets; rm"]),
        ("pipeline_health", "dag_ids", ["d" * DAG_ID_MAX_CHARS], ["d" * (DAG_ID_MAX_CHARS + 1)]),
        ("pipeline_health", "max_freshness_seconds", 3600, 10**12),
        ("purge_expired", "cities", ["Vancouver"], [LONG_CITY]),
        ("purge_expired", "tweets_retention_days", 30, 10**7),
        ("bootstrap", "retention_hours", 168, 10**15),
        ("bootstrap", "dead_letter_retention_hours", 720, 10**15),
        ("bootstrap", "tweets_partitions", 64, 65),
        ("rescore_tweets", "city", None, LONG_CITY),
        ("rescore_tweets", "city", "Vancouver", "Van\ncouver"),
        ("rescore_tweets", "start_day", "2026-11-01", "1 Nov"),
        ("rescore_tweets", "model", "vader", "gpt"),
        ("rescore_tweets", "page_size", 10_000, 10_001),
    ],
)
def test_a_param_refuses_what_is_too_long_malformed_or_out_of_range(dag_id, name, good, bad):
    assert resolves(dag_id, name, good)
    assert not resolves(dag_id, name, bad)


def test_a_city_the_params_accept_is_one_a_record_accepts():
    """The Param limits and the records' limits agree: the longest accepted city makes a valid record."""
    longest = "x" * CITY_MAX_CHARS
    assert resolves("ingest_tweets", "city", longest)
    assert resolves("ingest_weather", "cities", [f"{longest}=49.28,-123.12"])
    tweet = TweetRecord("1", "hi", datetime(2026, 1, 1, tzinfo=UTC), longest)
    assert TweetRecord.from_dict(tweet.to_dict()).city == longest
    with pytest.raises(InvalidRecord, match="city"):
        WeatherRecord.from_dict(
            {"city": longest + "x", "observed_at": "2026-01-01T00:00:00Z", "temperature_c": 1.0}
        )


@pytest.mark.parametrize(
    "spec",
    [f"{LONG_CITY}=49,-123", "Van\ud800=49,-123", "a=b=49,-123", "", "Whistler=50,-122;x", "=49,-123x"],
)
def test_the_task_refuses_a_malformed_weather_city_even_if_the_param_schema_let_it_through(spec):
    with pytest.raises(ConfigurationError, match="city"):
        check_city_spec(spec)


@pytest.mark.parametrize("city", [LONG_CITY, "Van\ud800", "  ", "a\tb"])
def test_the_task_refuses_a_tweets_city_no_record_could_carry(city):
    with pytest.raises(ConfigurationError, match="city"):
        check_city(city)


@pytest.mark.parametrize("spec", ["Vancouver", "49.2827,-123.1207", "Whistler=50.1163, -122.9574"])
def test_well_formed_weather_cities_pass_the_task_check(spec):
    assert check_city_spec(spec) == spec
