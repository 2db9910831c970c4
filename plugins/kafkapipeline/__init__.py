"""The pipeline's logic: sources, Kafka and Cassandra access, drains and maintenance.

DAG files only wire these functions into tasks; everything here imports without a running Airflow,
Kafka or Cassandra, so it is unit testable and DAG parsing never touches the network.
"""
