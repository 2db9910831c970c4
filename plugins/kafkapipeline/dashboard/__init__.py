"""The Kafka pipeline dashboard: tweet sentiment against weather, and the pipeline's own state.

A FastAPI app (``app.py``) mounted by the Airflow api-server; it reads Cassandra per request in bounded
hour slices (``queries.py``, ``bounds.py``) and aggregates in Python (``aggregation.py``), so the
charted numbers are unit tested.
"""
