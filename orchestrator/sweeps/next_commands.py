"""The commands btfarm prints for the user to run next: start a worker, resume a sweep, run a
walker again.

They carry the sweep's imports (``--import MODULE`` each, quoted for a shell), so
what is printed is what to type: a worker needs the user's modules to run the
sweep, and a resume imports only what it is told (sweep_run.resumable_plan).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

import redis


def _imports(imports: Sequence[str]) -> str:
    return "".join(f" --import {shlex.quote(spec)}" for spec in dict.fromkeys(imports))


def worker_command(imports: Sequence[str]) -> str:
    """``btfarm worker --import M ...``: a worker that registers what the sweep needs."""
    return f"btfarm worker{_imports(imports)}"


def resume_command(run_id: str, imports: Sequence[str]) -> str:
    """``btfarm walker resume RUN_ID --import M ...``: finishes the sweep, running only what is missing."""
    return f"btfarm walker resume {run_id}{_imports(imports)}"


def walker_command(
    module: str | None, walker_name: str, symbol: str, imports: Sequence[str] = ()
) -> str:
    """``btfarm walker MODULE WALKER --symbol S --import M ...``: the walker run again (a search goes
    on from its study; no module: the demo sweep)."""
    if module is None:
        return f"btfarm walker --symbol {shlex.quote(symbol)}"
    return (
        f"btfarm walker {shlex.quote(module)} {shlex.quote(walker_name)} --symbol {shlex.quote(symbol)}"
        f"{_imports(imports)}"
    )


def stored_resume_command(run_id: str) -> str:
    """``resume_command`` with the imports sweep ``run_id`` stored in its plan (none when Redis
    cannot say: the command still names the sweep)."""
    from btfarm.orchestrator.state_client import state
    from btfarm.shared.errors import BtfarmError
    from btfarm.shared.store import sweep_plan

    try:
        imports = sweep_plan.read_plan(state(), run_id).imports
    except (BtfarmError, redis.RedisError):
        imports = []
    return resume_command(run_id, imports)
