"""Generate a year of 1-minute candles for the large sweep: ``python bench/make_year.py``.

Same recipe as the reference data (examples/data/README.md): a seeded random
walk of 0.08 % per minute, each open the previous close, prices rounded to 4
decimals. 525,600 candles from 2025-01-01, written to
bench/data/SIMUSDT.parquet (not committed; bench/data/ is ignored by git).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

MINUTES = 365 * 1440  # one year of 1m candles
START_MS = 1_735_689_600_000  # 2025-01-01T00:00Z, as the reference data
STEP = 0.0008  # standard deviation of one minute's return (0.08 %)
OUT = Path(__file__).resolve().parent / "data" / "SIMUSDT.parquet"


def generate(minutes: int = MINUTES, seed: int = 2025) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, STEP, minutes))), 4)
    open_ = np.r_[100.0, close[:-1]]
    wick = np.abs(rng.normal(0, STEP / 2, (2, minutes)))
    return pd.DataFrame(
        {
            "timestamp": START_MS + np.arange(minutes, dtype=np.int64) * 60_000,
            "open": open_,
            "high": np.round(np.maximum(open_, close) * (1 + wick[0]), 4),
            "low": np.round(np.minimum(open_, close) * (1 - wick[1]), 4),
            "close": close,
            "volume": np.round(rng.gamma(4.0, 10.0, minutes), 3),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame = generate()
    frame.to_parquet(args.out, index=False)
    print(f"{len(frame):,} candles written to {args.out}")


if __name__ == "__main__":
    main()
