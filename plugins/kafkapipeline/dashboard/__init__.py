"""The Kafka pipeline dashboard: tweet sentiment against weather, and the pipeline's own state.

A FastAPI app (``app.py``) mounted by the Airflow api-server, for users who may read DAG runs
(``access.py``); it reads Cassandra per request in bounded hour slices (``queries.py``, ``bounds.py``)
in worker processes of its own, a few reads at a time (``admission.py``, ``worker.py``), reused for a
few seconds (``cache.py``), and aggregates in Python (``aggregation.py``), so the charted numbers are
unit tested.
"""
