"""The package's shape: no import cycles, and every import names the module that owns the name."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLUGINS = REPO / "plugins"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PLUGINS).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in (PLUGINS / "kafkapipeline").rglob("*.py")}
TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}


def defined_names(tree: ast.Module) -> set[str]:
    """Names a module binds itself at its top level (not the ones it imports)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.If):  # e.g. a type alias defined under TYPE_CHECKING
            names |= defined_names(ast.Module(body=node.body + node.orelse, type_ignores=[]))
    return names


DEFINED = {name: defined_names(tree) for name, tree in TREES.items()}


def test_no_module_imports_itself_back_at_import_time():
    graph = {
        name: {
            f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES else node.module
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kafkapipeline")
            for alias in node.names
        }
        - {name}
        for name, tree in TREES.items()
    }
    cycles: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        for dep in sorted(graph.get(name, ())):
            if dep in path:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep in graph and dep not in seen:
                seen.add(dep)
                visit(dep, [*path, dep])

    for start in sorted(graph):
        seen = {start}
        visit(start, [start])
    assert cycles == []


def python_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py", "scripts/*"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    return [REPO / f for f in listed if (REPO / f).is_file() and (REPO / f).read_bytes()[:2] != b"\x7fE"]


def test_every_import_names_the_module_that_defines_the_name():
    """No re-export shims: ``from kafkapipeline.a import X`` only where ``a`` defines X or X is its module."""
    wrong = []
    for path in python_files():
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.module in MODULES):
                continue
            for alias in node.names:
                owned = alias.name in DEFINED[node.module] or f"{node.module}.{alias.name}" in MODULES
                if not owned:
                    wrong.append(f"{path.relative_to(REPO)}:{node.lineno} {node.module}.{alias.name}")
    assert wrong == []
