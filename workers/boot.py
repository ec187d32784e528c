"""``python -m btfarm.workers.boot [OPTIONS]``: ``celery -A btfarm.workers worker [OPTIONS]``,
started without Celery's command group.

``celery`` imports ``celery.bin.celery`` first, and that loads every installed
Celery command plugin (Flower's, with Tornado) and click-repl (prompt_toolkit):
~0.2 s of CPU at each worker's start for commands a worker never runs, paid
by every pool the orchestrator starts and every worker of a farm. This runs
Celery's own ``worker`` command (``celery.bin.worker``: the same options,
checks and signal handling) on the farm's app, as the group would hand it
over. ``btfarm worker``, the embedded local pool and the bench start workers
this way; ``celery -A btfarm.workers worker`` stays equivalent.
"""

from __future__ import annotations

import sys


def _without_pygments():
    """Import Celery's CLI base without pygments: at import it builds a Python lexer and a
    256-colour formatter (~25 ms of each worker's start) to colour the output of commands
    like ``celery inspect``, which a worker never prints. Where pygments is missing Celery
    falls back to plain text; it is hidden for that one import and importable after."""
    saved = sys.modules.get("pygments", False)
    sys.modules["pygments"] = None  # "import pygments" raises ImportError
    try:
        import celery.bin.base  # noqa: F401
    finally:
        if saved is False:
            del sys.modules["pygments"]
        else:
            sys.modules["pygments"] = saved


_without_pygments()

from celery.bin.base import CLIContext  # noqa: E402
from celery.bin.worker import worker  # noqa: E402

from .app import app  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    context = CLIContext(app=app, no_color=False, workdir=None, quiet=False)
    # what the group adds before handing over: options declared by the app's own extensions
    worker.params.extend(app.user_options.get("worker", []))
    worker.main(
        args=list(sys.argv[1:] if argv is None else argv),
        prog_name="btfarm worker",
        obj=context,
        auto_envvar_prefix="CELERY",
    )


if __name__ == "__main__":
    main()
