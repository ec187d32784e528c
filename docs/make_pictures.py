"""Make the docs' pictures from the reference data: python docs/make_pictures.py

Backtests the README example ("sma-cross-5m" on examples/data/sim-30d-1m.csv)
through the public API, as `btfarm backtest` does, and keeps the pictures its
report draws as docs/sma-cross-5m-{equity,price,monthly,rolling-sharpe,underwater}.svg
(the README shows the equity one).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PICTURES = (
    "equity",
    "price",
    "monthly",
    "rolling-sharpe",
    "underwater",
)  # what a backtest report draws


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["BTFARM_DUMP_DIR"] = str(Path(scratch) / "dump")
        os.environ["BTFARM_STATE_DIR"] = str(Path(scratch) / "state")
        sys.path.insert(0, str(HERE.parent))
        from btfarm.orchestrator import Backtest
        from btfarm.orchestrator.state_client import reset_state
        from btfarm.shared.importing import import_user_module

        import_user_module(str(HERE.parent / "examples" / "sma_cross_5m.py"))
        for _ in Backtest.run("SIMUSDT", "sma-cross-5m", "sim", "sim-30d"):
            pass
        report = Backtest.dump("SIMUSDT", "sma-cross-5m", formats=("md",))
        for name in PICTURES:
            out = HERE / f"sma-cross-5m-{name}.svg"
            shutil.copyfile(report.with_name(f"sma-cross-5m.{name}.svg"), out)
            print(f"wrote {out}")
        reset_state()  # leave (and so stop) the private Redis before its folder goes


if __name__ == "__main__":
    main()
