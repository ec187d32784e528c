"""Where the reference data lives: ../shared/data beside the repository."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data"
SIM_CSV = DATA_DIR / "sim-30d-1m.csv"  # SIMUSDT, 2025-01-01 00:00 .. 2025-01-30 23:59 UTC
