"""The one way a DAG hands its Params to a task: templated keyword arguments, rendered natively.

Every DAG sets ``render_template_as_native_obj=True`` and passes each Param as
``name=param("name")``; the task function takes typed keyword arguments (an ``int`` arrives as
an ``int``, a ``null`` Param as ``None``, a list as a list) and never reads
the Params from the task context. A Param's default lives once, in the DAG's ``Param``.

Why not a bare ``"{{ params.name }}"``: native rendering passes a non-text value through as is,
but runs text through :func:`ast.literal_eval`, so a *string* Param that looks like a literal
changes type: a topic ``"123"`` would arrive as the int ``123``, a city ``"None"`` as ``None``,
a path ``"1e5"`` as ``100000.0``. Jinja's built-in ``pprint`` filter renders the value as a
Python literal (its ``repr``, split over lines when long), which ``literal_eval`` turns back into
exactly the value the run holds, whatever its type. A DAG's other text templates take the same
filter (the drains' ``"{{ stream_topic() | pprint }}"``).
"""

from __future__ import annotations

import re

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def param(name: str) -> str:
    """The template of Param ``name`` that renders natively to exactly its value."""
    if not _NAME.match(name):
        raise ValueError(f"not a Param name: {name!r}")
    return "{{ params." + name + " | pprint }}"
