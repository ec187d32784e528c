"""Copies of one strategy module that differ only in a take profit, each in a folder of its
own: the farm tests of a worker running other code than the orchestrator.

A copy's module opens with ``HEAD`` (the orchestrator's imports and ``cross_signal``, an SMA
cross over the reference data whose take profit is the copy's own) and goes on with the
test's registrations. The orchestrator imports the "same" copy (``imported``); a worker
imports the copy of its folder (``copy_worker``).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .celery_workers import REPO, CeleryWorker

# the copies' take profits: "edited" is the copy someone changed on one worker
TAKE_PROFITS = {"same": 0.006, "edited": 0.009}

HEAD = """
from btfarm.orchestrator import (add_exchange, add_frame, add_strategy, add_walker, csv_exchange,
                                 get_average_price, get_candles, get_params, sweep)
from tests.support.reference_data import SIM_CSV


def cross_signal(symbol, when):
    p = get_params()
    closes = get_candles(symbol, "1m", p["slow"] + 1).close
    if len(closes) < p["slow"] + 1:
        return None
    side = 1 if closes[-p["fast"]:].mean() > closes[-p["slow"]:].mean() else -1
    price = get_average_price(symbol)
    return {{"position": "long" if side > 0 else "short", "minute_estimated_time": 90,
            "price_take_profit": price * (1 + side * {take_profit}),
            "price_stop_loss": price * (1 - side * 0.006)}}
"""


def write_copies(root: Path, module: str, rest: str) -> Path:
    """``root/COPY/MODULE.py`` for each copy of ``TAKE_PROFITS``: ``HEAD`` with the copy's take
    profit, then ``rest`` (as written: no braces to double); ``root``."""
    for copy, take_profit in TAKE_PROFITS.items():
        folder = root / copy
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{module}.py").write_text(HEAD.format(take_profit=take_profit) + rest)
    return root


@contextmanager
def imported(folder: Path, module: str) -> Iterator[None]:
    """``module`` imported from ``folder`` (registering what it registers in this process);
    forgotten afterwards, with ``folder`` off ``sys.path``."""
    sys.path.insert(0, str(folder))
    try:
        importlib.import_module(module)
        yield
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(module, None)


def copy_worker(url: str, root: Path, copy: str, module: str, logdir: Path) -> CeleryWorker:
    """A worker (not started) that imports ``module`` from ``root/copy``."""
    return CeleryWorker(
        url, logdir, BTFARM_IMPORTS=module, PYTHONPATH=f"{root / copy}{os.pathsep}{REPO}"
    )
