"""No import circle inside orchestrator/ (issue 30): every module's imports, those inside
functions included, form a graph without cycles, so the floor plan reads top-down.

Imports under ``if TYPE_CHECKING:`` are left out: they never run, and a type named in an
annotation is not a dependency of the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
ORCHESTRATOR = REPO / "orchestrator"
PREFIX = "btfarm.orchestrator"


def module_name(path: Path) -> str:
    parts = [*PREFIX.split("."), *path.relative_to(ORCHESTRATOR).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the orchestrator modules it imports (a name imported from a package that
    is itself a module counts as that module)."""
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                    base = ".".join(parts + ([node.module] if node.module else []))
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            edges[name] |= {t for t in targets if t in modules and t != name}
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return found


def test_no_import_circle_inside_the_orchestrator():
    modules = {module_name(p): p for p in sorted(ORCHESTRATOR.rglob("*.py"))}
    assert len(modules) > 30, modules
    found = circles(graph(modules))
    assert not found, "import circles inside orchestrator/:\n" + "\n".join(
        " <-> ".join(c) for c in found
    )


def test_the_check_finds_a_circle_through_a_function_level_import(tmp_path):
    a, b, c = (tmp_path / f"{n}.py" for n in "abc")
    a.write_text("from .b import x\n")
    b.write_text("def f():\n    from . import a\n")
    c.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import y\n")
    modules = {f"{PREFIX}.{p.stem}": p for p in (a, b, c)}
    assert circles(graph(modules)) == [[f"{PREFIX}.a", f"{PREFIX}.b"]]  # c's is under TYPE_CHECKING
