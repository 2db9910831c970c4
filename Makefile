# The project's commands. The first two are the ones the README starts with (the rest: docs/operations.md):
#   make run    - install, start Kafka + Cassandra, run Airflow with the pipeline's DAGs
#   make test   - install, start Kafka + Cassandra, lint, run the whole test suite
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV ?= .venv
VENV_BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: system-deps service-deps help install run stop services-up services-down services-status test test-cluster lint format unit bench lock clean cqlsh

help:  ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt
	@scripts/check-prerequisites python
	$(PYTHON) -m venv $(VENV)
	$(VENV_BIN)/pip install --quiet --upgrade pip
	$(VENV_BIN)/pip install --quiet -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)  ## create .venv and install the pinned requirements

services-up:  ## start Kafka, Cassandra, Postgres and Redis (Kafka and Cassandra download from Maven Central the first time)
	scripts/services up

services-down:  ## stop Kafka, Cassandra, Postgres and Redis
	scripts/services down

services-status:  ## show whether Kafka, Cassandra, Postgres and Redis are up, with their memory
	scripts/services status

run: install service-deps  ## run the whole pipeline: services, Airflow (UI on :8080), bootstrap, ingest and drains (CLUSTER=1: 3 brokers, 3 Cassandra nodes)
	$(if $(filter 1,$(CLUSTER)),KAFKAPIPELINE_CLUSTER=1 )scripts/run-pipeline

stop:  ## stop Airflow and the services started by make run (the CLUSTER=1 cluster too)
	scripts/run-pipeline --stop

cqlsh: install  ## interactive cqlsh on the pipeline's keyspace (one-off queries: scripts/cql "SELECT ...")
	@scripts/cql

lint: install  ## ruff check and format check, then mypy (its config and paths: pyproject.toml)
	$(VENV_BIN)/ruff check . scripts/services scripts/test-failures scripts/airflow-components
	$(VENV_BIN)/ruff format --check . scripts/services scripts/test-failures scripts/airflow-components
	$(VENV_BIN)/mypy

system-deps:  ## Debian packages: PostgreSQL, Redis and Prometheus (services), Chromium (browser test)
	scripts/install-system-deps

service-deps:  ## Debian packages of the services only: PostgreSQL, Redis and Prometheus (make run)
	scripts/install-system-deps --services

test: install system-deps services-up lint  ## the whole test suite against real Kafka, Cassandra and Airflow (SKIP_CLUSTER=1: without the cluster failover tests)
	. scripts/env.sh && $(VENV_BIN)/pytest $(PYTEST_ARGS)
	@if [ "$(SKIP_CLUSTER)" != 1 ]; then $(MAKE) --no-print-directory test-cluster; fi

test-cluster: install  ## the cluster failover tests: stops the single Kafka + Cassandra, runs 3 + 3 nodes, stops them
	scripts/services down kafka cassandra
	. scripts/env.sh && $(VENV_BIN)/pytest -m cluster tests/cluster --junitxml=test-artifacts/junit-cluster.xml $(PYTEST_ARGS)

unit: install  ## only the tests that need no services
	. scripts/env.sh && $(VENV_BIN)/pytest tests/unit tests/dags $(PYTEST_ARGS)

format: install  ## apply ruff fixes and formatting
	$(VENV_BIN)/ruff check --fix .
	$(VENV_BIN)/ruff format .

bench: install services-up  ## the benchmarks under bench/ (print figures)
	. scripts/env.sh && for b in bench/*.py; do $(VENV_BIN)/python $$b || exit 1; done

lock:  ## re-pin requirements.txt from the current .venv
	@# Everything requirements-dev.txt pins itself (test, lint and training tools) stays out of the runtime lock.
	$(VENV_BIN)/pip freeze --exclude-editable \
	  | grep -viE "^($$(sed -nE 's/^([A-Za-z0-9_.-]+)==.*/\1/p' requirements-dev.txt | sed 's/[._-]/[._-]/g' | paste -sd'|'))==" \
	  > requirements.lock.tmp
	@echo "review requirements.lock.tmp and move it over requirements.txt"

clean:  ## stop everything (a CLUSTER=1 cluster too) and delete local state (.state) but keep the artifact cache
	-scripts/run-pipeline --stop
	-scripts/services down --cluster
	-scripts/services down --purge
	rm -rf .state
