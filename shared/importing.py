"""Importing the user's strategy modules, by dotted name or by file path.

Workers and the CLI learn a user's registrations by importing the module
that makes them; nothing is pickled across processes.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from .errors import ConfigError


def import_user_module(spec: str) -> ModuleType:
    """Import ``spec``: ``my_strategies``, ``pkg.mod``, ``path/to/file.py``, or
    ``pkg.mod:register`` (then ``register()`` is called, for modules that
    register on demand, like btfarm's demo)."""
    module_name, _, func = spec.partition(":")
    if func and not module_name.endswith(".py"):
        module = _import_dotted(module_name)
        getattr(module, func)()
        return module
    path = Path(spec)
    if spec.endswith(".py") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"cannot import {spec!r}: no such file (from {Path.cwd()})")
        folder = str(path.resolve().parent)
        if folder not in sys.path:  # as `python path/file.py` would: its siblings import
            sys.path.insert(0, folder)
        name = f"btfarm_user_{path.stem}"
        existing = sys.modules.get(name)
        if existing is not None and getattr(existing, "__file__", None) == str(path.resolve()):
            return existing
        module_spec = importlib.util.spec_from_file_location(name, path.resolve())
        if module_spec is None or module_spec.loader is None:  # not a file Python can load
            raise ConfigError(f"cannot import {spec!r}: {path} is not a Python module")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception:
            del sys.modules[name]
            raise
        return module
    return _import_dotted(spec)


def _import_dotted(spec: str) -> ModuleType:
    if str(Path.cwd()) not in sys.path and "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # as `python -m` would: modules beside the user
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        if exc.name and spec.startswith(exc.name):
            raise ConfigError(
                f"cannot import {spec!r}: no module named {exc.name!r} (searched the current folder "
                f"{Path.cwd()} and sys.path); pass a dotted module name or a path to a .py file"
            ) from exc
        raise
