"""One Params convention: every DAG renders natively and hands each Param to a task as a typed
keyword argument (``name=param("name")``), and a run's value arrives exactly as it was set."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from jinja2.nativetypes import NativeEnvironment

from kafkapipeline.params.rendering import param

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO_ROOT / "dags"
PLUGINS = REPO_ROOT / "plugins" / "kafkapipeline"

#: Text values that native rendering of a bare ``{{ params.x }}`` would change into another type.
LITERAL_LOOKING = ["123", "None", "1e5", "True", "[1, 2]", "'quoted'", "😀 Vancouver", "a b " * 40]


@pytest.fixture(scope="module")
def dags():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))
    assert bag.import_errors == {}
    return bag.dags


def _arguments(task) -> dict:
    """A task function's keyword arguments (mapped or not), else a classic operator's templated fields."""
    if hasattr(task, "partial_kwargs"):  # mapped: the arguments given to .partial()
        return dict(task.partial_kwargs.get("op_kwargs") or {})
    if hasattr(task, "op_kwargs"):
        return dict(task.op_kwargs)
    return {name: getattr(task, name) for name in task.template_fields}  # the drains' sensor


def _param_templates(task) -> dict[str, str]:
    """The task's arguments that are Param templates, by argument name (``name[key]`` inside a dict)."""
    found: dict[str, str] = {}
    for argument, value in _arguments(task).items():
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for key, template in items:
            if isinstance(template, str) and "params." in template:
                found[argument if key is None else f"{argument}[{key}]"] = template
    return found


def test_every_dag_renders_natively(dags):
    assert sorted(d for d, dag in dags.items() if not dag.render_template_as_native_obj) == []


def test_every_param_reaches_a_task_through_the_one_template(dags):
    for dag_id, dag in dags.items():
        passed: set[str] = set()
        for task in dag.tasks:
            for argument, template in _param_templates(task).items():
                name = template.removeprefix("{{ params.").split(" ", 1)[0]
                assert template == param(name), f"{dag_id}.{task.task_id}({argument}={template!r})"
                assert name in dag.params, f"{dag_id}.{task.task_id} reads an unknown Param {name!r}"
                passed.add(name)
        assert passed == set(dag.params.keys()), f"{dag_id}: Params no task receives"


def test_task_functions_take_exactly_the_params_they_are_given(dags):
    for dag in dags.values():
        for task in dag.tasks:
            function = getattr(task, "python_callable", None)
            if function is None:
                continue
            signature = inspect.signature(function)
            # The arguments given must bind (no **kwargs catch-all hiding a misspelt name).
            assert all(p.kind != p.VAR_KEYWORD for p in signature.parameters.values()), function
            signature.bind_partial(**_arguments(task))


def test_no_task_reads_params_from_the_context():
    readers = [
        str(path.relative_to(REPO_ROOT))
        for path in PLUGINS.rglob("*.py")
        if "get_current_context" in path.read_text(encoding="utf-8")
    ]
    assert readers == []


def _render(dag, task, params: dict) -> dict:
    """The task's Param templates rendered as Airflow renders them for this DAG (natively).

    The DAG's template environment is Jinja's native one (``render_template_as_native_obj``),
    so ``render`` returns the value itself, as the task receives it.
    """
    env = dag.get_template_env()
    assert isinstance(env, NativeEnvironment), f"{dag.dag_id} does not render natively"
    return {
        argument: env.from_string(template).render(params=params)
        for argument, template in _param_templates(task).items()
    }


@pytest.mark.parametrize("text", LITERAL_LOOKING)
def test_text_params_arrive_unchanged(dags, text):
    checked = 0
    for dag in dags.values():
        for name in dag.params:
            schema = dag.params.get_param(name).schema
            if "string" not in schema.get("type", []):
                continue
            for task in dag.tasks:
                rendered = _render(dag, task, {**dag.params.dump(), name: text})
                for argument, template in _param_templates(task).items():
                    if template == param(name):
                        assert rendered[argument] == text and type(rendered[argument]) is str
                        checked += 1
    assert checked >= 10  # topic, query, city, path, export_dir, day, ...


def test_defaults_arrive_typed(dags):
    for dag_id, dag in dags.items():
        defaults = dag.params.dump()
        for task in dag.tasks:
            rendered = _render(dag, task, defaults)
            for argument, template in _param_templates(task).items():
                name = template.removeprefix("{{ params.").split(" ", 1)[0]
                value = defaults[name]
                assert rendered[argument] == value and type(rendered[argument]) is type(value), (
                    f"{dag_id}.{task.task_id}.{argument}: {rendered[argument]!r} for {value!r}"
                )


def test_a_null_param_arrives_as_none_and_a_list_as_a_list(dags):
    health = dags["pipeline_health"]
    task = health.get_task("check_health")
    rendered = _render(health, task, {**health.params.dump(), "max_lag": None, "cities": ["Vancouver", "7"]})
    assert rendered["max_lag"] is None
    assert rendered["cities"] == ["Vancouver", "7"]
    assert rendered["hours"] == health.params["hours"] and isinstance(rendered["hours"], int)


def test_param_refuses_what_is_not_a_name():
    with pytest.raises(ValueError, match="not a Param name"):
        param("x }}{{ 1")
