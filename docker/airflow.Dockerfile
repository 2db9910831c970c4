# Airflow image for docker-compose.yaml: the official Airflow image plus the packages the
# pipeline needs and the image does not ship (the Kafka and Cassandra providers, their client
# libraries, tweepy, vaderSentiment, and numba for the sentiment model's compiled scoring kernel;
# numpy and msgspec come with the image's own Airflow).
#
# Versions are the pins of requirements.txt (the project's lock);
# tests/unit/tooling/test_docker_compose.py fails when they drift apart.  Only these extras are
# installed: everything else keeps the versions of the image's own Airflow constraints, and
# apache-airflow is repeated at the image's version so pip can never up- or downgrade it.
# The build needs no file of the repository, so the build context is this folder alone.

ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}

ARG AIRFLOW_VERSION

RUN pip install --no-cache-dir \
        "apache-airflow==${AIRFLOW_VERSION}" \
        "apache-airflow-providers-apache-kafka==2.1.0" \
        "apache-airflow-providers-apache-cassandra==3.10.1" \
        "confluent-kafka==2.16.1" \
        "cassandra-driver==3.30.1" \
        "tweepy==4.17.0" \
        "vaderSentiment==3.3.2" \
        "numba==0.68.1" \
        "llvmlite==0.50.0"

# Mount points of the airflow-state (simple auth manager passwords) and airflow-logs volumes.
# Created here, as the image's airflow user, so the named volumes start out writable by it.
RUN mkdir -p /opt/airflow/state /opt/airflow/logs
