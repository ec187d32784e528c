"""Strategies, exchange, frames and walkers the farm tests register, in the
test process and in every worker subprocess (``--import tests.farm_strategies``).

Importing this module registers everything (workers learn strategies by
importing modules; nothing is pickled).
"""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime

from btfarm.shared.demo import pullback_signal, sma_cross_signal
from btfarm.shared.exchanges.synthetic import synthetic_exchange
from btfarm.shared.registry import add_exchange, add_frame, add_strategy, add_walker
from btfarm.shared.schemas import sweep
from btfarm.shared.search_space import search

SYMBOL = "BTCUSDT"
FAST = [5, 8, 10, 12, 15, 20]
SLOW = [20, 30, 40, 60]
SLOW_SIGNAL_SECONDS = 0.002  # "farm-slow": a sleep per get_signal call, so a stop lands mid-run
HOG_BLOCK_BYTES = 32 * 1024 * 1024  # "farm-hog" allocates blocks of this size until it fails
FAULTS = (
    "farm-sleeper",
    "farm-hog",
    "farm-raiser",
    "farm-suicide",
    "farm-stubborn",
)  # each must fail alone


def slow_sma_signal(symbol: str, when: datetime) -> dict | None:
    time.sleep(SLOW_SIGNAL_SECONDS)
    return sma_cross_signal(symbol, when)


def sleeper_signal(symbol: str, when: datetime) -> dict | None:
    while True:  # only the task's soft time limit ends this
        time.sleep(1)


def hog_signal(symbol: str, when: datetime) -> dict | None:
    blocks = []
    while True:  # only the worker's memory cap ends this
        blocks.append(bytearray(HOG_BLOCK_BYTES))


def raiser_signal(symbol: str, when: datetime) -> dict | None:
    raise ValueError("farm-raiser always raises")


def suicide_signal(symbol: str, when: datetime) -> dict | None:
    os.kill(os.getpid(), signal.SIGKILL)  # kills the worker's pool process, every delivery


def stubborn_signal(symbol: str, when: datetime) -> dict | None:
    while True:  # swallows the soft time limit too: only the hard one ends this
        try:
            time.sleep(1)
        except BaseException:  # noqa: S110
            pass


def register() -> None:
    add_exchange(synthetic_exchange("farm-market"), override=True)
    add_frame(
        frame_name="farm-10d",
        interval="1m",
        start_date="2024-03-01T00:00:00Z",
        end_date="2024-03-10T23:59:00Z",
        override=True,
    )
    add_frame(
        frame_name="farm-1d",
        interval="1m",
        start_date="2024-03-01T00:00:00Z",
        end_date="2024-03-01T23:59:00Z",
        override=True,
    )
    add_frame(
        frame_name="farm-2d",
        interval="1m",
        start_date="2024-03-01T00:00:00Z",
        end_date="2024-03-02T23:59:00Z",
        override=True,
    )
    add_strategy(
        strategy_name="farm-sma",
        interval="5m",
        get_signal=sma_cross_signal,
        params={"fast": 10, "slow": 30},
        override=True,
    )
    add_strategy(
        strategy_name="farm-pullback",
        interval="15m",
        get_signal=pullback_signal,
        params={"rise": 1.0, "dip": 0.3},
        override=True,
    )
    add_strategy(
        strategy_name="farm-slow",
        interval="5m",
        get_signal=slow_sma_signal,
        params={"fast": 10, "slow": 30},
        override=True,
    )
    # 25 variants: a plain strategy and a 24-variant grid
    add_walker(
        walker_name="farm-sweep",
        exchange_name="farm-market",
        frame_name="farm-10d",
        strategies=["farm-pullback", sweep("farm-sma", fast=FAST, slow=SLOW)],
        override=True,
    )
    # farm-sweep, but its winner must be all but certain to beat luck, and the sweep not overfit
    add_walker(
        walker_name="farm-strict",
        exchange_name="farm-market",
        frame_name="farm-10d",
        strategies=["farm-pullback", sweep("farm-sma", fast=FAST, slow=SLOW)],
        min_dsr=0.999,
        max_pbo=0.0,
        override=True,
    )
    # farm-10d cut into three windows: train 4 days, test the next 2
    add_walker(
        walker_name="farm-wf",
        exchange_name="farm-market",
        frame_name="farm-10d",
        metric="total_pnl",
        strategies=["farm-pullback", sweep("farm-sma", fast=[5, 10, 15], slow=[20, 30])],
        walk_forward={"train": "4d", "test": "2d"},
        override=True,
    )
    # a search of farm-sma's params: 8 trials in batches of 4, fast below slow
    add_walker(
        walker_name="farm-search",
        exchange_name="farm-market",
        frame_name="farm-2d",
        min_trades=1,
        strategies=[
            search(
                "farm-sma",
                n_trials=8,
                seed=3,
                batch=4,
                fast=(3, 20),
                slow=(10, 40),
                constraint=lambda p: p["fast"] < p["slow"],
            )
        ],
        override=True,
    )
    # 24 variants of ~1 s each: long enough to stop it, list it, watch it
    add_walker(
        walker_name="farm-slow-sweep",
        exchange_name="farm-market",
        frame_name="farm-2d",
        strategies=[sweep("farm-slow", fast=FAST, slow=SLOW)],
        override=True,
    )
    # 24 variants of ~0.6 s each: the fault tests kill things in the middle of it
    add_walker(
        walker_name="farm-faulted-sweep",
        exchange_name="farm-market",
        frame_name="farm-1d",
        strategies=[sweep("farm-slow", fast=FAST, slow=SLOW)],
        override=True,
    )
    # 4 quick variants for schedules
    add_walker(
        walker_name="farm-small",
        exchange_name="farm-market",
        frame_name="farm-2d",
        strategies=["farm-pullback", sweep("farm-sma", fast=[5, 10], slow=[20]), "farm-sma"],
        override=True,
    )

    for name, fn in zip(
        FAULTS,
        (sleeper_signal, hog_signal, raiser_signal, suicide_signal, stubborn_signal),
        strict=True,
    ):
        add_strategy(strategy_name=name, interval="15m", get_signal=fn, override=True)
    add_walker(
        walker_name="farm-faults",
        exchange_name="farm-market",
        frame_name="farm-2d",
        strategies=[*FAULTS, "farm-pullback", sweep("farm-sma", fast=[5, 10], slow=[20])],
        override=True,
    )
    add_walker(
        walker_name="farm-failing",
        exchange_name="farm-market",
        frame_name="farm-2d",
        strategies=["farm-raiser"],
        override=True,
    )  # a chunk none of whose variants runs


register()
