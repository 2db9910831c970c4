"""A drain run by Airflow with OpenLineage's file transport emits events naming its topic, table and DLQ.

The DAG runs in a fresh interpreter (``dag.test()``) whose environment turns lineage on the way
``KAFKAPIPELINE_LINEAGE=file`` does in ``scripts/env.sh``: the provider reads its configuration once
per process, so this process, where it is off, is left as it is.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from kafkapipeline import settings
from tests.conftest import run_in_fresh_interpreter
from tests.integration.drain_support import produce_records, weather_reports

pytestmark = pytest.mark.integration

RUN_DRAIN = """
import json
from tests.integration.test_drain_dags import run
dag_run, results = run("drain_weather", {"min_batch": 1, "max_wait_seconds": 1, "max_messages": 1000})
print("REPORT " + json.dumps({"state": str(dag_run.state), "drain": results["drain"][0][1]}))
"""


def lineage_events(path: Path, wanted: int, timeout: float = 60.0) -> list[dict]:
    """The events the file transport wrote, once ``wanted`` COMPLETE ones are there (emission may lag)."""
    deadline = time.monotonic() + timeout
    events: list[dict] = []
    while time.monotonic() < deadline:
        if path.exists():
            events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            if sum(e.get("eventType") == "COMPLETE" for e in events) >= wanted:
                return events
        time.sleep(0.5)
    return events


@pytest.mark.usefixtures("airflow_db")
def test_a_drain_reports_its_topic_as_input_and_its_table_and_dlq_as_outputs_with_counts(
    tmp_path, make_topic, keyspace, kafka_hook, cassandra
):
    topic = make_topic("lineage_drain_weather", partitions=1)
    produce_records(kafka_hook, topic, weather_reports(4))
    events_file = tmp_path / "openlineage.jsonl"
    env = {
        **os.environ,
        "KAFKAPIPELINE_WEATHER_TOPIC": topic,
        "KAFKAPIPELINE_KEYSPACE": keyspace,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__EXTRACTORS": "kafkapipeline.lineage.extractor.PipelineTaskExtractor",
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "kafkapipeline",
    }

    out = run_in_fresh_interpreter(RUN_DRAIN, env)  # logging may print after the report
    [report] = [json.loads(line[len("REPORT ") :]) for line in out.splitlines() if line.startswith("REPORT ")]
    assert report["state"] == "success", report
    assert report["drain"]["rows_written"] == 4

    events = lineage_events(events_file, wanted=3)  # sensor, plan, drain
    drains = [
        e for e in events if e.get("eventType") == "COMPLETE" and e["job"]["name"] == "drain_weather.drain"
    ]
    assert drains, f"no COMPLETE event of drain_weather.drain among {[e['job']['name'] for e in events]}"
    [drain] = drains
    server = settings.current()
    assert [(d["namespace"], d["name"]) for d in drain["inputs"]] == [
        (f"kafka://{server.asset_kafka_server}", topic)
    ]
    outputs = {(d["namespace"], d["name"]): d.get("outputFacets", {}) for d in drain["outputs"]}
    table = (f"cassandra://{server.asset_cassandra_server}", f"{keyspace}.weather_reports")
    dlq = (f"kafka://{server.asset_kafka_server}", settings.dead_letter_topic(topic))
    assert set(outputs) == {table, dlq}
    assert outputs[table]["outputStatistics"]["rowCount"] == 4
    assert outputs[dlq]["outputStatistics"]["rowCount"] == 0
    assert drain["job"]["namespace"] == "kafkapipeline"
