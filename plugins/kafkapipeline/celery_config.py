"""The Celery workers' configuration: Airflow's own, plus the sentiment kernel loaded once per worker.

Airflow 3 runs every task in a process forked from a Celery worker (``os.fork``, no exec), so
what the worker has loaded before it starts its pool, each task inherits for free. Loading the
sentiment model's compiled kernel there (:func:`kafkapipeline.sentiment.model.preload`, ~0.5 s
once per worker) instead of in each drain task (~0.5 s per run, more than a 50,000-message batch
saves) lets every drain score with it. Selected with
``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=kafkapipeline.celery_config.CELERY_CONFIG`` (scripts/env.sh,
docker-compose.yaml); without it, or with ``KAFKAPIPELINE_SCORING_KERNEL=numpy``, tasks score on
numpy as before.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_init

log = logging.getLogger(__name__)

#: What Airflow would use without this module: nothing of Celery's own configuration changes.
CELERY_CONFIG: dict[str, Any] = dict(DEFAULT_CELERY_CONFIG)


@worker_init.connect
def preload_sentiment_kernel(**_: Any) -> None:
    """Before the worker forks its pool: the weights and the kernel, for every task forked later."""
    from kafkapipeline.sentiment import model as sentiment_model

    try:
        ready = sentiment_model.preload()
    except Exception:  # a worker that cannot preload still runs tasks: they load what they need
        log.exception("could not preload the sentiment model; tasks will load it themselves")
        return
    log.info(
        "sentiment model preloaded for the tasks of this worker: %s scoring",
        "compiled" if ready else "numpy",
    )
