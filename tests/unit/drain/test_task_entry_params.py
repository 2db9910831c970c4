"""The DAGs' task functions take their Params as typed keyword arguments and pass them on as they are.

The work behind each task is replaced by a recorder: these tests check the entry functions'
wiring (no default re-applied, no re-parsing, the interval taken from the arguments); the
integration tests run the same functions against Kafka and Cassandra.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from kafkapipeline import settings


class Recorder:
    def __init__(self, result: Any = None) -> None:
        self.calls: list[tuple[tuple, dict]] = []
        self.result = result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        return self.result


def test_health_passes_every_param_through(monkeypatch):
    from kafkapipeline.health import task as health_task

    report = SimpleNamespace(failures=[], as_dict=lambda: {"ok": True})
    run = Recorder(report)
    monkeypatch.setattr(health_task, "run_health_check", run)
    assert health_task.pipeline_health_task(
        max_lag=7,
        max_freshness_seconds=None,
        cities=["Vancouver", "123"],
        dag_ids=[],
        hours=3,
        max_under_replicated_partitions=None,
        max_offline_brokers=2,
        max_down_cassandra_nodes=None,
        expected_brokers=3,
        expected_cassandra_nodes=None,
    ) == {"ok": True}
    (_, kwargs) = run.calls[0]
    assert kwargs["max_lag"] == 7 and kwargs["max_freshness_seconds"] is None and kwargs["hours"] == 3
    assert kwargs["cities"] == ["Vancouver", "123"] and kwargs["dag_ids"] == []
    assert kwargs["cluster"] == {
        "max_under_replicated_partitions": None,
        "max_offline_brokers": 2,
        "max_down_cassandra_nodes": None,
        "expected_brokers": 3,
        "expected_cassandra_nodes": None,
    }


def test_health_fails_the_task_on_failures(monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    from kafkapipeline.health import task as health_task

    failure = SimpleNamespace(metric="consumer_lag", subject="tweets/0", value=9, detail="over 7")
    monkeypatch.setattr(health_task, "run_health_check", Recorder(SimpleNamespace(failures=[failure])))
    with pytest.raises(AirflowFailException, match="consumer_lag tweets/0"):
        health_task.pipeline_health_task(
            max_lag=7,
            max_freshness_seconds=None,
            cities=[],
            dag_ids=[],
            hours=1,
            max_under_replicated_partitions=None,
            max_offline_brokers=None,
            max_down_cassandra_nodes=None,
            expected_brokers=None,
            expected_cassandra_nodes=None,
        )


def test_purge_passes_retention_and_sweep_as_given(monkeypatch):
    from kafkapipeline.maintenance import retention

    purge = Recorder({"rows": 0})
    monkeypatch.setattr(retention, "purge_expired", purge)
    retention.purge_expired_task(
        retention={"tweets": None, "weather_reports": 0}, cities=[], sweep_days=2, dry_run=True
    )
    assert purge.calls[0][1] == {
        "retention": {"tweets": None, "weather_reports": 0},
        "cities": [],
        "sweep_days": 2,
        "dry_run": True,
    }


def test_replay_passes_a_numeric_looking_topic_as_text(monkeypatch):
    from kafkapipeline.dead_letters import replay as dead_letter_replay

    replay = Recorder(SimpleNamespace(as_dict=lambda: {"read": 0}))
    monkeypatch.setattr(dead_letter_replay, "replay_dead_letters", replay)
    dead_letter_replay.replay_dead_letters_task(topic="123", max_messages=5, max_replays=2, dry_run=False)
    assert replay.calls[0] == (("123",), {"max_messages": 5, "max_replays": 2, "dry_run": False})


def test_import_resolves_the_path_inside_the_data_root(monkeypatch, tmp_path):
    from airflow.sdk.exceptions import AirflowFailException

    from kafkapipeline.csvio import load as csv_import

    monkeypatch.setenv("KAFKAPIPELINE_DATA_ROOT", str(tmp_path))
    summary = SimpleNamespace(
        bad_rows=1,
        files=[],
        path=str(tmp_path),
        as_dict=lambda: {
            "rows_written": 3,
            "bad_rows": 1,
        },
    )
    imported = Recorder(summary)
    monkeypatch.setattr(csv_import, "import_path", imported)
    assert csv_import.import_csv_task(path="seed", kind="seed_tweets", fail_on_bad_rows=False, chunk_size=10)
    (args, kwargs) = imported.calls[0]
    assert args == (tmp_path.resolve() / "seed", "seed_tweets") and kwargs == {"chunk_size": 10}
    with pytest.raises(AirflowFailException, match="1 bad rows"):
        csv_import.import_csv_task(path="seed", kind="auto", fail_on_bad_rows=True, chunk_size=10)
    with pytest.raises(AirflowFailException, match="KAFKAPIPELINE_DATA_ROOT"):
        csv_import.import_csv_task(path="../outside", kind="auto", fail_on_bad_rows=False, chunk_size=10)


def _export(monkeypatch, tmp_path, **kwargs: Any) -> Recorder:
    from kafkapipeline.csvio import export as csv_export

    monkeypatch.setenv("KAFKAPIPELINE_DATA_ROOT", str(tmp_path))
    exported = Recorder(SimpleNamespace(files=[], as_dict=lambda: {"files": []}))
    monkeypatch.setattr(csv_export, "export_interval", exported)
    arguments: dict[str, Any] = {
        "export_dir": None,
        "cities": [],
        "tables": ["tweets"],
        "day": None,
        "fetch_size": 50,
    }
    csv_export.export_csv_task(**(arguments | kwargs))
    return exported


def test_export_covers_the_data_interval_it_is_given(monkeypatch, tmp_path):
    start, end = datetime(2026, 11, 21, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC)
    exported = _export(monkeypatch, tmp_path, data_interval_start=start, data_interval_end=end)
    (args, kwargs) = exported.calls[0]
    assert args == (start, end)
    assert kwargs["fetch_size"] == 50 and kwargs["tables"] == ["tweets"] and kwargs["cities"] == []
    assert kwargs["export_dir"] == tmp_path.resolve() / "exports"


def test_export_day_param_wins_over_the_interval(monkeypatch, tmp_path):
    exported = _export(
        monkeypatch,
        tmp_path,
        day="2026-01-05",
        export_dir="out",
        data_interval_start=datetime(2026, 11, 21, tzinfo=UTC),
        data_interval_end=datetime(2026, 11, 22, tzinfo=UTC),
    )
    (args, kwargs) = exported.calls[0]
    assert args == (datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 6, tzinfo=UTC))
    assert kwargs["export_dir"] == tmp_path.resolve() / "out"


def test_export_without_interval_or_day_says_what_to_do(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="set the 'day' Param"):
        _export(monkeypatch, tmp_path)


#: Text Params that look like literals, as the DAG's native rendering hands them over (unchanged).
TWEET_PARAMS: dict[str, Any] = {
    "source": "x",
    "query": "42",
    "city": "None",
    "max_pages": 2,
    "max_results": 10,
    "replay_tweets_per_10_minutes": 0,
}


def test_ingest_tweets_takes_its_interval_and_params_from_its_arguments(monkeypatch):
    from kafkapipeline.sources import ingest
    from kafkapipeline.sources.selection import TweetOptions
    from kafkapipeline.sources.x_api import XApiTweetSource

    chosen = Recorder(SimpleNamespace(source=XApiTweetSource("token", query="42")))
    produced = Recorder({"produced": 1})
    monkeypatch.setattr(ingest, "resolve_tweet_source", chosen)
    monkeypatch.setattr(ingest, "ingest", produced)
    start, end = datetime(2026, 11, 30, 10, tzinfo=UTC), datetime(2026, 11, 30, 10, 10, tzinfo=UTC)
    result = ingest.ingest_tweets_task(**TWEET_PARAMS, data_interval_start=start, data_interval_end=end)
    assert chosen.calls[0] == (("x", TweetOptions("42", "None", 2, 10, 0)), {})
    interval, topic = produced.calls[0][0][1:]
    assert (interval.start, interval.end) == (start, end) and topic == settings.tweets_topic()
    assert result == {"produced": 1, "query": "42"}


def test_ingest_weather_without_interval_covers_the_last_period_before_run_after(monkeypatch):
    from kafkapipeline.sources import ingest

    chosen = Recorder(SimpleNamespace(source=SimpleNamespace(name="replay")))
    produced = Recorder({"produced": 0})
    monkeypatch.setattr(ingest, "resolve_weather_source", chosen)
    monkeypatch.setattr(ingest, "ingest", produced)
    dag = SimpleNamespace(timetable=SimpleNamespace(expression="*/10 * * * *"))
    dag_run = SimpleNamespace(run_after=datetime(2026, 11, 30, 10, 17, tzinfo=UTC))
    result = ingest.ingest_weather_task(source="replay", cities=["Vancouver"], dag=dag, dag_run=dag_run)
    interval = produced.calls[0][0][1]
    assert (interval.start, interval.end) == (
        datetime(2026, 11, 30, 10, 0, tzinfo=UTC),
        datetime(2026, 11, 30, 10, 10, tzinfo=UTC),
    )
    assert chosen.calls[0][1]["cities"] == ["Vancouver"] and result["cities"] == ["Vancouver"]


@pytest.mark.parametrize("groups", ["2", 0, True, 1.0, None])
def test_the_partition_groups_param_must_render_to_an_int(groups):
    from kafkapipeline.drain.wait import groups_of

    event = {"status": "ready", "lag": {"partitions": [{"partition": 0}, {"partition": 1}]}}
    with pytest.raises(ValueError, match="groups"):  # pydantic's ValidationError, a ValueError
        groups_of(event, groups)


def test_ingest_with_a_zero_length_interval_covers_the_period_ending_at_the_logical_date(monkeypatch):
    from kafkapipeline.sources import ingest
    from kafkapipeline.sources.replay import ReplayTweetSource

    chosen = Recorder(SimpleNamespace(source=ReplayTweetSource()))
    produced = Recorder({"produced": 0})
    monkeypatch.setattr(ingest, "resolve_tweet_source", chosen)
    monkeypatch.setattr(ingest, "ingest", produced)
    moment = datetime(2026, 11, 30, 10, 20, tzinfo=UTC)
    dag = SimpleNamespace(timetable=SimpleNamespace(expression="*/10 * * * *"))
    dag_run = SimpleNamespace(logical_date=moment, run_after=datetime(2026, 12, 1, tzinfo=UTC))
    ingest.ingest_tweets_task(
        **TWEET_PARAMS, data_interval_start=moment, data_interval_end=moment, dag=dag, dag_run=dag_run
    )
    interval = produced.calls[0][0][1]
    assert (interval.start, interval.end) == (datetime(2026, 11, 30, 10, 10, tzinfo=UTC), moment)
