"""The variant sets the bench runs (examples/data/README.md)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "examples" / "data" / "sim-30d-1m.csv"
SYMBOL = "SIMUSDT"
CANDLES = 43_200  # 1m candles in the reference file: candle-evals per variant

SINGLE = [(10, 30)]
WALKER8 = [(10, 30), (5, 20), (5, 30), (10, 40), (15, 45), (20, 60), (8, 21), (12, 26)]
GRID53 = [
    (f, s) for f in (3, 5, 8, 10, 12, 15, 20) for s in (15, 20, 26, 30, 40, 45, 60, 90) if f < s
]

CASES = {"single": SINGLE, "walker8": WALKER8, "grid53": GRID53}
