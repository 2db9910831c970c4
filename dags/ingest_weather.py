"""
### ingest_weather

Produces weather observations for the run's **data interval** to the weather topic
(`KAFKAPIPELINE_WEATHER_TOPIC`, default `weather`), one JSON value per observation keyed by the
city, in Celsius. **Schedule**: `KAFKAPIPELINE_WEATHER_SCHEDULE` (default every 10 minutes, UTC).

**Params**: `source`: `auto` (the real providers when `openweathermap_default` is set, else the
built-in **replay** climate model), `api` (OpenWeatherMap for an interval that just ended,
keyless Open-Meteo history for older ones) or `replay`; `cities` (Metro Vancouver names, `lat,lon`
or `Name=lat,lon`). The XCom says which source was used and why, and the counts. Sources:
docs/sources.md.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from kafkapipeline.assets.tasks import ingest_assets
from kafkapipeline.params.limits import CITY_SPEC_SCHEMA
from kafkapipeline.params.rendering import param
from kafkapipeline.sources.ingest import WEATHER_SCHEDULE_ENV, ingest_weather_task, schedule_from_env
from kafkapipeline.sources.selection import SOURCE_MODES
from kafkapipeline.streams.weather import WEATHER


@dag(
    dag_id="ingest_weather",
    schedule=CronDataIntervalTimetable(schedule_from_env(WEATHER_SCHEDULE_ENV), timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2,
    doc_md=__doc__,
    render_template_as_native_obj=True,  # Params reach the task typed (kafkapipeline.params.rendering)
    tags=["kafkapipeline", "ingest", "weather"],
    default_args={
        "owner": "data-platform",
        "retries": 3,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(minutes=15),
    },
    params={
        "source": Param(
            "auto",
            type="string",
            enum=list(SOURCE_MODES),
            description="auto: real APIs if openweathermap_default is set, else replay; replay; api",
        ),
        "cities": Param(
            ["Vancouver"],
            type="array",
            items=CITY_SPEC_SCHEMA,
            minItems=1,
            maxItems=20,
            description="Cities to observe: Metro Vancouver names, 'lat,lon' or 'Name=lat,lon'",
        ),
    },
)
def ingest_weather():
    task(task_id="produce_weather", **ingest_assets(WEATHER))(ingest_weather_task)(
        source=param("source"), cities=param("cities")
    )


ingest_weather()
