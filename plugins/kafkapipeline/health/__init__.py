"""The pipeline's health, measured now: lag, throughput, dead letters, freshness, the clusters'
replication and membership, and last DAG runs.

Each check writes one set of figures to ``<keyspace>.pipeline_health``, all with the same ``checked_at``
(the dashboard's "latest check"), each ``ok``, ``warn`` or ``fail`` against :class:`HealthThresholds`.
A figure that cannot be measured is written as ``fail`` with the error; the task writes and logs every
figure first, then fails when one of ``FAILING_METRICS`` is ``fail``.
"""
