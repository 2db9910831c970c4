"""The Celery workers' configuration: Airflow's own, plus the sentiment kernel loaded once per worker.

Airflow 3 forks every task from its worker, so the kernel loaded there
(:func:`kafkapipeline.sentiment.model.preload`) is inherited by each drain instead of loaded per task.
Selected by ``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS`` (scripts/env.sh, docker-compose.yaml); without it
tasks score on numpy until they load the kernel themselves.
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
