"""
### drain_weather

Drains the weather topic (`KAFKAPIPELINE_WEATHER_TOPIC`, default `weather`) into Cassandra
`weather_reports` in **micro-batches**; observations are written as they are (Celsius), keyed by
(city, day, observed_at). **Schedule**: `@continuous`, one run at a time. **Param defaults**:
`min_batch` 20, `max_wait_seconds` 120: weather arrives a few reports per city per poll, so the
defaults favour latency over batch size.
"""

from __future__ import annotations

from airflow.sdk import DAG

from kafkapipeline.drain.dag import drain_dag_arguments, drain_pipeline
from kafkapipeline.streams.weather import WEATHER

with DAG(
    dag_id="drain_weather",
    schedule="@continuous",
    doc_md=__doc__,
    **drain_dag_arguments(WEATHER, min_batch=20, max_wait_seconds=120),
):
    drain_pipeline(WEATHER)
