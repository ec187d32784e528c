"""Downloaded candles on disk: one Parquet file per exchange, symbol and month.

``{root}/{exchange_id}/{SYMBOL}/{YYYY-MM}.parquet``, the symbol spelt as a
file name (``BTC/USDT`` -> ``BTC-USDT``), columns ``timestamp`` (open time,
epoch ms), open, high, low, close, volume: the columns ``csv_exchange`` reads.

Only whole months are kept (every candle of the month has closed), each
written to a temporary file and renamed into place, so a reader (another
worker on a shared folder, a second backtest) sees a whole month or none:
an interrupted download never leaves half a month behind, and a resumed one
fetches only the months missing. Gaps the exchange really has are kept as
gaps: ``btfarm data check`` and the coverage checks report them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: a worker reading Parquet files never loads pandas
    import pandas as pd

from ..atomic_file import replaced_whole
from ..candles import COLUMNS
from ..errors import CandleDataError

MONTH_FILE = re.compile(r"(\d{4})-(\d{2})\.parquet")
UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def symbol_folder(symbol: str) -> str:
    """``BTC/USDT`` -> ``BTC-USDT``; ``BTC/USDT:USDT`` -> ``BTC-USDT-USDT`` (a file name)."""
    return UNSAFE.sub("-", symbol).strip(".") or "_"


def month_start_ms(year: int, month: int) -> int:
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)


def next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def months_between(start_ms: int, end_ms: int) -> Iterator[tuple[int, int, int, int]]:
    """(year, month, first ms, last ms + 1) of each month that [start_ms, end_ms] touches."""
    when = datetime.fromtimestamp(start_ms / 1000, tz=UTC)
    year, month = when.year, when.month
    while month_start_ms(year, month) <= end_ms:
        after = next_month(year, month)
        yield year, month, month_start_ms(year, month), month_start_ms(*after)
        year, month = after


class MonthCache:
    """The months of one exchange kept under ``root``."""

    def __init__(self, root: Path, exchange_id: str) -> None:
        self.root = Path(root)
        self.exchange_id = exchange_id

    def folder(self, symbol: str) -> Path:
        return self.root / symbol_folder(self.exchange_id) / symbol_folder(symbol)

    def path(self, symbol: str, year: int, month: int) -> Path:
        return self.folder(symbol) / f"{year:04d}-{month:02d}.parquet"

    def read(self, symbol: str, year: int, month: int) -> pd.DataFrame | None:
        path = self.path(symbol, year, month)
        if not path.exists():
            return None
        import pandas as pd

        try:
            return pd.read_parquet(path, columns=list(COLUMNS))
        except (OSError, ValueError) as exc:
            raise CandleDataError(
                f"cached candles {path} are unreadable ({exc}); delete the file and the month is "
                "downloaded again"
            ) from exc

    def write(self, symbol: str, year: int, month: int, frame: pd.DataFrame) -> Path:
        """Keep one whole month (temporary file, then rename: all or nothing)."""
        path = self.path(symbol, year, month)
        with replaced_whole(path) as scratch:
            frame[list(COLUMNS)].to_parquet(scratch, index=False)
        return path

    def alias(self, symbol: str) -> str | None:
        """The market symbol ``symbol`` (as a user wrote it) was found to be, if known here."""
        try:
            return json.loads(self._aliases().read_text()).get(symbol)
        except (OSError, ValueError):
            return None

    def remember(self, market: str, *spellings: str) -> None:
        """Keep each spelling (``BTCUSDT``, ``BTC/USDT``) -> ``market``, so a later run reads the
        cache without asking the exchange's market list (a cached backtest asks nothing)."""
        path = self._aliases()
        try:
            known = json.loads(path.read_text())
        except (OSError, ValueError):
            known = {}
        if all(known.get(spelling) == market for spelling in spellings):
            return
        with replaced_whole(path) as scratch:
            scratch.write_text(
                json.dumps({**known, **dict.fromkeys(spellings, market)}, indent=1, sort_keys=True)
            )

    def _aliases(self) -> Path:
        return self.root / symbol_folder(self.exchange_id) / "symbols.json"

    def symbols(self) -> list[str]:
        """The symbol folders on disk (``BTC-USDT``), sorted."""
        folder = self.root / symbol_folder(self.exchange_id)
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def months(self, symbol: str) -> list[tuple[int, int]]:
        """The (year, month) pairs on disk for ``symbol``, oldest first."""
        folder = self.folder(symbol)
        found = (
            [MONTH_FILE.fullmatch(p.name) for p in folder.glob("*.parquet")]
            if folder.is_dir()
            else []
        )
        return sorted((int(m[1]), int(m[2])) for m in found if m)

    def read_all(self, symbol: str) -> pd.DataFrame:
        frames = [self.read(symbol, y, m) for y, m in self.months(symbol)]
        frames = [f for f in frames if f is not None and len(f)]
        import pandas as pd

        return (
            pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(COLUMNS))
        )
