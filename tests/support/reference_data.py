"""Where the reference data lives: examples/data in the repository (examples/data/README.md)."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[2] / "examples" / "data"
SIM_CSV = DATA_DIR / "sim-30d-1m.csv"  # SIMUSDT, 2025-01-01 00:00 .. 2025-01-30 23:59 UTC
SIM_CSV_MD5 = (
    "8b53cddab75e7adad76ff3a1cdc1e5df"  # the figures of every bench and test assume these bytes
)
