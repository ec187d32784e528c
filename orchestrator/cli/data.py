"""``btfarm data``: download an exchange's candles through ccxt, and check what is on disk."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np
import pandas as pd

from btfarm.orchestrator.cli.console import console, err_console, progress_bar
from btfarm.shared.atomic_file import replaced_whole
from btfarm.shared.candles import timestamps_of
from btfarm.shared.coverage import coverage_of, iso
from btfarm.shared.errors import UsageError
from btfarm.shared.exchanges.ccxt_market import CcxtSource
from btfarm.shared.exchanges.month_cache import MonthCache, months_between, symbol_folder
from btfarm.shared.intervals import MINUTE_MS
from btfarm.shared.schemas import to_ms, to_utc
from btfarm.shared.settings import get_settings

DAY_MS = 86_400_000
GAPS_LISTED = 10  # gaps printed by `data check`; the count says how many in all


@click.group()
def data() -> None:
    """Market data: download candles from an exchange (ccxt), check candle files."""


def _ms(text: str, option: str, end_of_day: bool = False) -> int:
    try:
        ms = to_ms(to_utc(text))
    except (ValueError, TypeError) as exc:
        raise UsageError(
            f"{option} {text!r} is not a date; write 2024-01-31 or 2024-01-31T12:00Z"
        ) from exc
    date_only = len(text.strip()) == 10
    return ms + DAY_MS - MINUTE_MS if end_of_day and date_only else ms


def _config(text: str | None) -> dict:
    if not text:
        return {}
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"--config is not JSON ({exc}); give ccxt's settings as an object, "
            "e.g. '{\"timeout\": 30000}'"
        ) from exc
    if not isinstance(parsed, dict):
        raise UsageError("--config must be a JSON object of ccxt's constructor settings")
    return parsed


@data.command()
@click.option(
    "--exchange", "exchange_id", default="binance", show_default=True, help="A ccxt exchange id."
)
@click.option(
    "--symbol",
    "symbols",
    required=True,
    multiple=True,
    help="BASE/QUOTE as ccxt spells it (BTC/USDT); repeat it, or separate with commas.",
)
@click.option("--since", required=True, help="First day (UTC), e.g. 2024-01-01.")
@click.option(
    "--until", default=None, help="Last day (UTC), included; default: the last closed candle."
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the months are kept (default BTFARM_CANDLE_CACHE_DIR, else .btfarm/candles).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write OUT/{MARKET_ID}.parquet (e.g. BTCUSDT.parquet) for csv_exchange(folder=OUT).",
)
@click.option(
    "--config",
    "config_json",
    default=None,
    help="ccxt constructor settings as JSON (timeout, urls, keys, proxies).",
)
def download(
    exchange_id: str,
    symbols: tuple[str, ...],
    since: str,
    until: str | None,
    cache_dir: Path | None,
    out_dir: Path | None,
    config_json: str | None,
) -> None:
    """Download 1m candles into the cache, month by month; run it again to resume."""
    start = _ms(since, "--since")
    end = _ms(until, "--until", end_of_day=True) if until else None
    names = [s.strip() for group in symbols for s in group.split(",") if s.strip()]
    source = CcxtSource(exchange_id, _config(config_json), cache_dir=cache_dir)
    last = min(end, source.last_closed_ms()) if end is not None else source.last_closed_ms()
    if last < start:
        raise UsageError(f"--since {since} is after --until ({iso(last)}); nothing to download")
    months = len(list(months_between(start, last)))
    try:
        for symbol in names:
            market = source.market(symbol)
            before = source.requests
            with progress_bar() as bar:
                task = bar.add_task(f"{exchange_id} {market}", total=months)
                frame = source.frame(
                    market, start, last, on_month=lambda *_, task=task: bar.advance(task)
                )
            where = source.cache.folder(market)
            line = (
                f"{exchange_id} {market}: {len(frame)} candles {iso(_first(frame))} .. {iso(_last(frame))}, "
                f"{source.requests - before} requests; months kept in {where}"
            )
            console.print(line, highlight=False, soft_wrap=True)
            for first, last_gap in within(source.gaps.get(market, []), start, last)[:GAPS_LISTED]:
                err_console.print(
                    f"  gap: no candles {iso(first)} .. {iso(last_gap)} "
                    f"({(last_gap - first) // MINUTE_MS + 1} minutes): kept as a gap",
                    highlight=False,
                )
            if out_dir is not None:
                path = _write_out(out_dir, source.market_id(market), frame)
                console.print(
                    f"  wrote {path} (csv_exchange(..., folder={str(out_dir)!r}) reads it)",
                    highlight=False,
                    soft_wrap=True,
                )
    except KeyboardInterrupt:
        err_console.print(
            "interrupted: the months finished are kept; run the same command again to "
            "fetch only the rest",
            highlight=False,
        )
        sys.exit(130)


def within(gaps: list[tuple[int, int]], start: int, last: int) -> list[tuple[int, int]]:
    """The parts of ``gaps`` (first, last missing minute) inside [--since, --until]: whole months
    are fetched and cached, so a gap of the month after --until (or before --since) is the
    cache's, not the download's."""
    return [(max(a, start), min(b, last)) for a, b in gaps if a <= last and b >= start]


def _first(frame: pd.DataFrame) -> int | None:
    return int(frame["timestamp"].iloc[0]) if len(frame) else None


def _last(frame: pd.DataFrame) -> int | None:
    return int(frame["timestamp"].iloc[-1]) if len(frame) else None


def _write_out(folder: Path, market_id: str, frame: pd.DataFrame) -> Path:
    path = folder / f"{symbol_folder(market_id)}.parquet"
    with replaced_whole(path) as scratch:
        frame.to_parquet(scratch, index=False)
    return path


@data.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--exchange", "exchange_id", default=None, help="Check the cache of this ccxt exchange id."
)
@click.option(
    "--symbol", "symbols", multiple=True, help="With --exchange: the symbols (default: all cached)."
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The cache folder (default BTFARM_CANDLE_CACHE_DIR, else .btfarm/candles).",
)
def check(
    files: tuple[Path, ...],
    exchange_id: str | None,
    symbols: tuple[str, ...],
    cache_dir: Path | None,
) -> None:
    """Report the range, gaps and duplicates of candle files or of the cache.

    Exits 1 when a source has duplicated or unordered rows, or cannot be read
    (csv_exchange would refuse it); gaps are reported, not failed."""
    if not files and not exchange_id:
        raise UsageError(
            "name candle files (btfarm data check BTCUSDT.parquet) or a cache "
            "(btfarm data check --exchange binance [--symbol BTC/USDT])"
        )
    sources: list[tuple[str, pd.DataFrame | Exception]] = [
        (str(path), _read(path)) for path in files
    ]
    if exchange_id:
        cache = MonthCache(cache_dir or get_settings().candle_cache, exchange_id)
        held = cache.symbols()
        wanted = [symbol_folder(s) for s in symbols] or held
        if not wanted:
            raise UsageError(
                f"nothing cached for {exchange_id} in {cache.root}; "
                f"btfarm data download --exchange {exchange_id} --symbol ... fills it"
            )
        for folder in wanted:
            if folder not in held:
                raise UsageError(
                    f"no cached candles for {folder} of {exchange_id} in {cache.root} "
                    f"(cached: {', '.join(held) or 'none'})"
                )
            sources.append((f"{exchange_id} {folder} (cache)", cache.read_all(folder)))
    bad = False
    for label, frame in sources:
        bad |= _report(label, frame)
    sys.exit(1 if bad else 0)


def _read(path: Path) -> pd.DataFrame | Exception:
    try:
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        return exc


def _report(label: str, frame: pd.DataFrame | Exception) -> bool:
    """Print what ``frame`` holds; True when it is unusable (unreadable, duplicated, unordered)."""
    if isinstance(frame, Exception):
        console.print(f"{label}: unreadable: {frame}", highlight=False, soft_wrap=True)
        return True
    column = next((c for c in ("timestamp", "timestamp_ms") if c in frame.columns), None)
    if column is None:
        console.print(
            f"{label}: no timestamp column (columns: {', '.join(map(str, frame.columns))})",
            highlight=False,
        )
        return True
    if not len(frame):
        console.print(f"{label}: empty", highlight=False)
        return False
    ts = timestamps_of(frame[column].to_numpy())
    duplicates = int(len(ts) - len(np.unique(ts)))
    unordered = int(np.sum(np.diff(ts) < 0))
    unique = np.unique(ts)
    coverage = coverage_of(unique)
    console.print(
        f"{label}: {coverage.describe()}; {duplicates} duplicated rows"
        + (f", {unordered} out of order" if unordered else ""),
        highlight=False,
        soft_wrap=True,
    )
    steps = np.diff(unique) // MINUTE_MS - 1
    for index in np.flatnonzero(steps > 0)[:GAPS_LISTED]:
        first = int(unique[index]) + MINUTE_MS
        console.print(
            f"  gap: {iso(first)} .. {iso(int(unique[index + 1]) - MINUTE_MS)} "
            f"({int(steps[index])} minutes)",
            highlight=False,
        )
    return bool(duplicates or unordered)
