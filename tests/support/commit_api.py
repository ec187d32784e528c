"""The public ``commit_*`` functions as one namespace: what the reference scenarios' hooks
(position_reference.py) are handed to call, in the engine as a strategy would call them."""

from __future__ import annotations

from types import SimpleNamespace

from btfarm import orchestrator

API = SimpleNamespace(
    **{
        name: getattr(orchestrator, name)
        for name in orchestrator.__all__
        if name.startswith("commit_")
    }
)
