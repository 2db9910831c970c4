"""The OpenLineage extractor of the pipeline's TaskFlow tasks (``[openlineage] extractors`` names it).

The provider finds no datasets in a ``@task`` by itself: it converts declared assets only for the
schemes a provider registered (not ``cassandra://``), and this project's hooks report nothing to
the hook lineage collector. This extractor reports each task's inlets as inputs and its outlets
as outputs (:mod:`kafkapipeline.lineage.datasets`); when the task ends, each output carries the
record count its asset event holds (the ``post_execute`` hook of :mod:`kafkapipeline.assets.tasks`
set it). A task with no assets gets an empty lineage, so the provider falls back to its defaults.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.openlineage.extractors.base import BaseExtractor, OperatorLineage
from airflow.sdk import Asset

from kafkapipeline.lineage.datasets import input_datasets, output_datasets


def outlet_extras(task_instance: Any, outlets: list[Any]) -> dict[Asset, dict[str, Any]]:
    """The ``extra`` of each outlet's event in the finished task's context (empty without one)."""
    try:
        events = task_instance.get_template_context()["outlet_events"]
    except (AttributeError, KeyError):  # not a worker's task instance: no events to read
        return {}
    return {asset: dict(events[asset].extra) for asset in outlets if isinstance(asset, Asset)}


class PipelineTaskExtractor(BaseExtractor):
    """Inputs and outputs of a ``@task`` from its declared assets, with row counts when it completes."""

    @classmethod
    def get_operator_classnames(cls) -> list[str]:
        return ["_PythonDecoratedOperator"]

    def _execute_extraction(self) -> OperatorLineage | None:
        return OperatorLineage(
            inputs=input_datasets(self.operator.inlets),
            outputs=output_datasets(self.operator.outlets, {}),
        )

    def extract_on_complete(self, task_instance: Any) -> OperatorLineage | None:
        outlets = list(self.operator.outlets)
        return OperatorLineage(
            inputs=input_datasets(self.operator.inlets),
            outputs=output_datasets(outlets, outlet_extras(task_instance, outlets)),
        )

    def extract_on_failure(self, task_instance: Any) -> OperatorLineage | None:
        return self._execute_extraction()  # a failed task committed nothing: no counts
