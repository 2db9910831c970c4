"""The Celery workers' configuration: Airflow's, plus the sentiment kernel loaded before the pool forks.

Each check runs in a fresh interpreter: what a process has loaded is exactly what is tested, and
this process's scoring state is left alone.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.conftest import run_in_fresh_interpreter

REPO = Path(__file__).resolve().parents[3]
ENV_SH = REPO / "scripts" / "env.sh"

#: Sends the worker_init signal as ``celery worker`` does, then forks like Airflow's supervisor
#: and reports, from the forked child, what scores its first small batch.
WORKER_THEN_TASK = textwrap.dedent(
    """
    import os, sys
    from celery.signals import worker_init
    import kafkapipeline.runtime.celery_config
    from kafkapipeline.sentiment import model as sentiment_model

    worker_init.send(sender=None)
    loaded_by_worker = sentiment_model.kernel_in_use()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        scores = sentiment_model.score_batch(["what a lovely sunny day", "I hate this grey rain"])
        os.write(write, f"{sentiment_model.kernel_in_use()} {scores[0].label} {scores[1].label}".encode())
        os._exit(0)
    os.waitpid(pid, 0)
    print("RESULT", loaded_by_worker, os.read(read, 200).decode(), "numba" in sys.modules)
    """
)


def run_worker(kernel: str) -> list[str]:
    # Airflow's configuration comes from this process's environment (scripts/env.sh, via conftest).
    printed = run_in_fresh_interpreter(
        WORKER_THEN_TASK,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
            "KAFKAPIPELINE_SCORING_KERNEL": kernel,
        },
    )
    result = [line for line in printed.splitlines() if line.startswith("RESULT ")]
    assert len(result) == 1, printed[-3000:]
    return result[0].split()[1:]


def test_the_configuration_is_airflows_own():
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

    from kafkapipeline.runtime.celery_config import CELERY_CONFIG

    assert CELERY_CONFIG == DEFAULT_CELERY_CONFIG
    assert CELERY_CONFIG is not DEFAULT_CELERY_CONFIG


def test_a_task_forked_from_the_worker_scores_with_the_kernel_the_worker_loaded():
    pytest.importorskip("numba", reason="numba is not installed: tasks score on numpy")
    loaded_by_worker, in_task, first, second, numba_loaded = run_worker("auto")
    # "auto" alone would score a 2-tweet batch on numpy: the task has the kernel because the worker loaded it.
    assert (loaded_by_worker, in_task, numba_loaded) == ("compiled", "compiled", "True")
    assert (first, second) == ("Positive", "Negative")


def test_numpy_scoring_keeps_numba_out_of_the_worker():
    loaded_by_worker, in_task, first, second, numba_loaded = run_worker("numpy")
    assert (loaded_by_worker, in_task, numba_loaded) == ("numpy", "numpy", "False")
    assert (first, second) == ("Positive", "Negative")


def test_env_sh_selects_this_configuration(tmp_path):
    out = subprocess.run(
        ["bash", "-c", f'. {ENV_SH}; printf %s "$AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"'],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "KAFKAPIPELINE_STATE": str(tmp_path / "state")},
    ).stdout
    module, _, name = out.rpartition(".")
    assert (module, name) == ("kafkapipeline.runtime.celery_config", "CELERY_CONFIG")
