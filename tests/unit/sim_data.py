"""The reference candles (examples/data/sim-30d-1m.csv) and the bench's grid, for unit tests."""

from __future__ import annotations

from btfarm.shared.engine.backtest_run import load_frame_candles
from btfarm.shared.exchanges import csv_exchange
from btfarm.shared.schemas import FrameSchema
from tests.support.reference_data import SIM_CSV

DATA = SIM_CSV
GRID53 = [
    (f, s) for f in (3, 5, 8, 10, 12, 15, 20) for s in (15, 20, 26, 30, 40, 45, 60, 90) if f < s
]
GRID53_IDS = [f"{f}-{s}" for f, s in GRID53]


def load_sim(exchange_name: str):
    """(exchange, 30-day frame, its candles) over the reference file."""
    exchange = csv_exchange(exchange_name, files={"SIMUSDT": DATA})
    frame = FrameSchema(
        frame_name="sim-30d",
        interval="1m",
        start_date="2025-01-01T00:00:00Z",
        end_date="2025-01-30T23:59:00Z",
    )
    return exchange, frame, load_frame_candles(exchange, frame, "SIMUSDT")
