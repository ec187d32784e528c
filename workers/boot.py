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

from celery.bin.base import CLIContext
from celery.bin.worker import worker

from .app import app


def main(argv: list[str] | None = None) -> None:
    context = CLIContext(app=app, no_color=False, workdir=None, quiet=False)
    # what the group adds before handing over: options declared by the app's own extensions
    worker.params.extend(app.user_options.get("worker", []))
    worker.main(args=list(sys.argv[1:] if argv is None else argv), prog_name="btfarm worker", obj=context,
                auto_envvar_prefix="CELERY")


if __name__ == "__main__":
    main()
