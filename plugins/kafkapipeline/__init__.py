"""The pipeline's logic: sources, Kafka and Cassandra access, drains and maintenance.

DAG files under ``dags/`` only wire these functions into tasks. Everything here is
importable without a running Airflow, Kafka or Cassandra, so it can be unit tested
and so that parsing a DAG file never touches the network.
"""
