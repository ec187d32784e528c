"""DESIGN.md: every import points down a tier. shared/ imports neither workers/
nor orchestrator/; workers/ does not import orchestrator/."""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / "shared"
WORKERS = REPO / "workers"
FORBIDDEN = ("btfarm.workers", "btfarm.orchestrator")
ABOVE = {"shared": FORBIDDEN, "workers": ("btfarm.orchestrator",)}  # what each tier must not import


def _module_name(path: Path, root: Path) -> str:
    """``btfarm.shared.store.keys`` for shared/store/keys.py (package: no .__init__)."""
    parts = ["btfarm", root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in the file, relative
    imports resolved against the file's package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return found


def _violations(path: Path, root: Path = SHARED) -> list[str]:
    forbidden = ABOVE[root.name]
    return [
        f"{path.relative_to(root.parent)}:{line} imports {name}"
        for line, name in _imported_modules(path, root)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


def test_shared_imports_neither_workers_nor_orchestrator():
    files = sorted(SHARED.rglob("*.py"))
    assert files, f"no Python files under {SHARED}"
    problems = [v for path in files for v in _violations(path)]
    assert not problems, "shared/ must not depend on upper tiers:\n" + "\n".join(problems)


def test_the_check_catches_absolute_and_relative_imports(tmp_path):
    fake = tmp_path / "shared"
    (fake / "store").mkdir(parents=True)
    (fake / "store" / "bad.py").write_text(
        "from ...orchestrator import cli\nimport btfarm.workers.tasks\nfrom .. import events\n"
    )
    problems = _violations(fake / "store" / "bad.py", root=fake)
    assert len(problems) == 3  # the relative import, its name, and the absolute one
    assert any("btfarm.orchestrator" in p for p in problems)
    assert any("btfarm.workers.tasks" in p for p in problems)


def test_workers_import_nothing_from_the_orchestrator():
    files = sorted(WORKERS.rglob("*.py"))
    assert files, f"no Python files under {WORKERS}"
    problems = [v for path in files for v in _violations(path, root=WORKERS)]
    assert not problems, "workers/ must not depend on orchestrator/:\n" + "\n".join(problems)


def test_the_workers_check_catches_an_import_of_the_orchestrator(tmp_path):
    fake = tmp_path / "workers"
    fake.mkdir()
    (fake / "bad.py").write_text(
        "from ..orchestrator.walker import Walker\nfrom btfarm.shared import errors\n"
    )
    problems = _violations(fake / "bad.py", root=fake)
    assert problems and all("btfarm.orchestrator" in p for p in problems)
