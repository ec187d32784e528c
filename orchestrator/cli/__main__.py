"""``python -m btfarm.orchestrator.cli``: the ``btfarm`` command without its console script."""

from btfarm.orchestrator.cli import main

main(prog_name="btfarm")
