"""The one way a DAG hands its Params to a task: templated keyword arguments, rendered natively.

Every DAG sets ``render_template_as_native_obj=True`` and passes ``name=param("name")`` to typed task
arguments. A bare ``"{{ params.name }}"`` would run text through :func:`ast.literal_eval` (a topic ``"123"``
would arrive as an int); the ``pprint`` filter renders a literal that evaluates back to the exact value.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def param(name: str) -> str:
    """The template of Param ``name`` that renders natively to exactly its value."""
    if not _NAME.match(name):
        raise ValueError(f"not a Param name: {name!r}")
    return "{{ params." + name + " | pprint }}"
