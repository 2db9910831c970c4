"""The Kafka pipeline dashboard: tweet sentiment against weather, and the pipeline's own state.

A FastAPI app (``app.py``) served by the Airflow api-server through the plugin registered
in ``plugins/kafkapipeline_dashboard.py``. It reads Cassandra lazily, per request, in
LIMITed hour slices of the day partitions (``queries.py``) under the bounds of ``bounds.py``,
and aggregates in Python (``aggregation.py``), so the numbers the page charts are unit
tested on known rows.
"""
