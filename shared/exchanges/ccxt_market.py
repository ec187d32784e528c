"""Candles from a real exchange through ccxt: backtests, sweeps and live polling.

``ccxt_exchange("binance")`` registers an exchange whose 1-minute candles come
from ccxt's ``fetch_ohlcv``, paged by ``since`` (ccxt's own rate limiter
spaces the requests), kept per month in a Parquet cache (month_cache.py), so a
second backtest of the same range makes no request and workers on a shared
folder download a month once.

What can go wrong at an exchange, and what happens:

- a network error, a timeout, HTTP 429 or 5xx: the request is tried again,
  ``BTFARM_FETCH_RETRIES`` times in all, pausing as the answer's
  ``Retry-After`` asks or backing off (0.5 s, doubled, at most 30 s); then a
  ``CandleDataError`` says what was asked, of whom, and the last error;
- an unknown symbol or a market without candles: a ``CandleDataError`` at
  once, naming close matches; never retried;
- a page with a row twice: an identical copy is dropped; a copy with other
  prices is asked again once, then refused (nothing is cached);
- a minute missing: asked again once (a page cut short), then kept as a gap
  the exchange has: logged here, shown by ``btfarm data check`` and by every
  report's coverage line, an error with ``BTFARM_MAX_GAP_MINUTES``. Never
  filled in.

Only closed candles exist: everything is cut at the last candle closed on
the source's clock (the forming candle is never returned), so ``Live`` polls
the same candles a backtest reads, and a month is cached only once it has
closed.
"""

from __future__ import annotations

import difflib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..candles import COLUMNS, Candles, to_candles
from ..clock import Clock, SystemClock
from ..coverage import iso
from ..errors import CandleDataError, ConfigError
from ..intervals import MINUTE_MS
from ..schemas import ExchangeSchema
from ..settings import get_settings
from .month_cache import MonthCache, months_between
from .source import PagedSource

if TYPE_CHECKING:  # imported where used: a worker reading Parquet files never loads pandas
    import pandas as pd

log = logging.getLogger("btfarm.data")

PAGE = 1000  # candles per fetch_ohlcv call (Binance's most; ccxt passes it as the limit)
FIRST_PAUSE_SECONDS = 0.5  # before the second try of a failed request, doubled after each
MAX_PAUSE_SECONDS = 30.0  # the longest pause, Retry-After included
GAPS_ASKED_AGAIN = 20  # gaps of one fetch asked again before they are taken as the exchange's


class CcxtSource(PagedSource):
    """One ccxt exchange's 1m candles, cached per month under ``cache_dir``."""

    def __init__(
        self,
        exchange_id: str = "binance",
        config: dict[str, Any] | None = None,
        name: str | None = None,
        cache_dir: str | Path | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.exchange_id = exchange_id
        self.config = dict(config or {})
        self.name = name or exchange_id
        self.clock = clock or SystemClock()
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._client: Any = None
        self._markets: dict[str, str] = {}  # what the user wrote -> ccxt's market symbol
        self._recent: dict[str, pd.DataFrame] = {}  # market -> closed candles of the open month
        self.requests = 0  # fetch_ohlcv calls this process made (tests prove the cache works)
        self.gaps: dict[str, list[tuple[int, int]]] = {}  # market -> (first, last) missing minutes

    # ---- the exchange ----------------------------------------------------------

    @property
    def cache(self) -> MonthCache:
        return MonthCache(self._cache_dir or get_settings().candle_cache, self.exchange_id)

    def client(self) -> Any:
        """The ccxt exchange object, made on first use (in the process that uses it)."""
        if self._client is None:
            import ccxt  # ~0.3 s: only where candles are fetched

            cls = getattr(ccxt, self.exchange_id, None)
            if cls is None or self.exchange_id not in ccxt.exchanges:
                near = difflib.get_close_matches(self.exchange_id, ccxt.exchanges, n=3)
                raise ConfigError(
                    f'exchange "{self.name}": ccxt has no exchange {self.exchange_id!r}'
                    + (f" (did you mean {', '.join(near)}?)" if near else "")
                    + "; ccxt.exchanges lists them"
                )
            client = cls({"enableRateLimit": True, **self.config})
            if not client.has.get("fetchOHLCV"):
                raise ConfigError(
                    f'exchange "{self.name}": {self.exchange_id} gives no candles '
                    "through ccxt (fetchOHLCV); pick another exchange"
                )
            if "1m" not in (client.timeframes or {}):
                raise ConfigError(
                    f'exchange "{self.name}": {self.exchange_id} has no 1-minute candles '
                    f"(its timeframes: {', '.join(client.timeframes or {}) or 'none'}); "
                    "btfarm backtests on 1m candles: pick another exchange"
                )
            self._client = client
        return self._client

    def market(self, symbol: str) -> str:
        """ccxt's market symbol for ``symbol`` ("BTC/USDT", or the exchange's id "BTCUSDT")."""
        found = self._markets.get(symbol) or self.cache.alias(symbol)
        if found is not None:
            self._markets[symbol] = found
            return found
        client = self.client()
        self._retried(lambda: client.load_markets(), f"load_markets() for {symbol}")
        if symbol in client.markets:
            found = symbol
        else:
            by_id = client.markets_by_id.get(symbol) or []
            found = by_id[0]["symbol"] if by_id else None
        if found is None:
            near = difflib.get_close_matches(symbol, list(client.markets), n=3)
            raise CandleDataError(
                f'exchange "{self.name}" ({self.exchange_id}) has no market {symbol!r}'
                + (f"; did you mean {', '.join(near)}?" if near else "")
                + " (symbols are spelt BASE/QUOTE, as ccxt lists them)"
            )
        self._markets[symbol] = found
        self.cache.remember(found, symbol, found, client.markets[found]["id"])
        return found

    def market_id(self, symbol: str) -> str:
        """The exchange's own id of the market (``BTCUSDT`` for ``BTC/USDT`` on Binance)."""
        market, client = self.market(symbol), self.client()
        self._retried(lambda: client.load_markets(), f"load_markets() for {symbol}")
        return client.markets[market]["id"]

    def last_closed_ms(self) -> int:
        """Open time of the newest candle closed on this source's clock."""
        now = self.clock.now_ms()
        return now - now % MINUTE_MS - MINUTE_MS

    # ---- candles ---------------------------------------------------------------

    def load_range(self, symbol: str, start_ms: int, end_ms: int) -> Candles:
        return to_candles(self.frame(symbol, start_ms, end_ms), self.name, symbol)

    def frame(
        self,
        symbol: str,
        start_ms: int,
        end_ms: int,
        on_month: Callable[[int, int, bool], None] | None = None,
    ) -> pd.DataFrame:
        """Closed 1m candles opening in [start_ms, end_ms]: whole months from the cache (or
        fetched, then cached), the month still open fetched. ``on_month(year, month,
        from_cache)`` after each month."""
        market = self.market(symbol)
        last_closed = self.last_closed_ms()
        end = min(end_ms, last_closed)
        parts = []
        for year, month, first, after in months_between(start_ms, end):
            if after - MINUTE_MS <= last_closed:  # the month has closed: kept whole
                got = self.cache.read(market, year, month)
                cached = got is not None
                if got is None:
                    got = self.fetch(market, first, after - MINUTE_MS)
                    self.cache.write(market, year, month, got)
            else:
                got, cached = self._open_month(market, max(first, start_ms), end), False
            parts.append(got[(got["timestamp"] >= start_ms) & (got["timestamp"] <= end)])
            if on_month is not None:
                on_month(year, month, cached)
        parts = [p for p in parts if len(p)]
        import pandas as pd

        return pd.concat(parts, ignore_index=True) if parts else _frame([])

    def _open_month(self, market: str, start: int, end: int) -> pd.DataFrame:
        """The month still open: what was fetched before and has not changed (closed
        candles are final), then only what closed since (a live poll is one request)."""
        held = self._recent.get(market)
        if held is not None and len(held) and int(held["timestamp"].iloc[0]) <= start:
            newest = int(held["timestamp"].iloc[-1])
            if newest < end:
                import pandas as pd

                held = pd.concat(
                    [held, self.fetch(market, newest + MINUTE_MS, end, ask_gaps=False)],
                    ignore_index=True,
                )
        else:
            held = self.fetch(market, start, end)
        self._recent[market] = held
        return held

    def fetch(self, market: str, start_ms: int, end_ms: int, ask_gaps: bool = True) -> pd.DataFrame:
        """Closed candles in [start_ms, end_ms] from the exchange, paged, checked."""
        end_ms = min(end_ms, self.last_closed_ms())
        rows: dict[int, tuple] = {}
        since = start_ms
        while since <= end_ms:
            page = self._page(
                market, since, min(PAGE, (end_ms - since) // MINUTE_MS + 1), start_ms, end_ms
            )
            if not page:
                break
            _merge(rows, page, self.name, market)
            since = max(page) + MINUTE_MS
        if ask_gaps:
            for first, last in _gaps(sorted(rows), start_ms, end_ms)[:GAPS_ASKED_AGAIN]:
                page = self._page(
                    market, first, min(PAGE, (last - first) // MINUTE_MS + 1), first, last
                )
                _merge(rows, page, self.name, market)
            missing = _gaps(sorted(rows), start_ms, end_ms)
            if missing:
                self.gaps.setdefault(market, []).extend(missing)
                minutes = sum((b - a) // MINUTE_MS + 1 for a, b in missing)
                log.warning(
                    'exchange "%s" has no candles for %s in %d gap(s), %d minutes (first: %s .. %s); '
                    "kept as gaps, never filled",
                    self.name,
                    market,
                    len(missing),
                    minutes,
                    iso(missing[0][0]),
                    iso(missing[0][1]),
                )
        return _frame([rows[t] for t in sorted(rows)])

    def _page(
        self, market: str, since: int, limit: int, start_ms: int, end_ms: int
    ) -> dict[int, tuple]:
        """One page, in range, its duplicates settled: an identical row twice is dropped; two
        rows of one minute with other prices are asked again once, then refused."""
        page, clash = self._read_page(market, since, limit, start_ms, end_ms)
        if clash is not None:
            page, clash = self._read_page(market, since, limit, start_ms, end_ms)
        if clash is not None:
            raise CandleDataError(
                f'exchange "{self.name}" sent two different candles for {market} at {iso(clash)} '
                f"(asked twice); nothing was cached; try again later or report it to {self.exchange_id}"
            )
        return page

    def _read_page(
        self, market: str, since: int, limit: int, start_ms: int, end_ms: int
    ) -> tuple[dict[int, tuple], int | None]:
        """(the rows in range by open time, the first minute sent twice with other prices)."""
        raw = self._retried(
            lambda: self._ohlcv(market, since, limit),
            f'fetch_ohlcv("{market}", "1m", since={since} ({iso(since)}), limit={limit})',
        )
        page: dict[int, tuple] = {}
        clash = None
        for row in raw or ():
            ts = int(row[0])
            if not start_ms <= ts <= end_ms:
                continue
            values = (ts, *(float(x) for x in row[1:6]))
            if ts in page and page[ts] != values and clash is None:
                clash = ts
            page.setdefault(ts, values)
        return page, clash

    def _ohlcv(self, market: str, since: int, limit: int) -> list:
        self.requests += 1
        return self.client().fetch_ohlcv(market, "1m", since=since, limit=limit)

    def _retried(self, call: Callable[[], Any], what: str) -> Any:
        """``call`` tried up to BTFARM_FETCH_RETRIES times on transient errors."""
        import ccxt

        tries = max(1, get_settings().fetch_retries)
        pause = FIRST_PAUSE_SECONDS
        attempt = 0
        while True:
            attempt += 1
            try:
                return call()
            except (ccxt.BadSymbol, ccxt.BadRequest) as exc:
                raise CandleDataError(
                    f'exchange "{self.name}" ({self.exchange_id}) refused {what}: {exc}'
                ) from exc
            except ccxt.OperationFailed as exc:  # network, timeout, 429 (DDoSProtection), 5xx
                if attempt == tries:
                    raise CandleDataError(
                        f'exchange "{self.name}" ({self.exchange_id}) failed {what} {tries} times; last: '
                        f"{type(exc).__name__}: {str(exc)[:300]}; check the network, or raise "
                        "BTFARM_FETCH_RETRIES"
                    ) from exc
                wait = min(_retry_after(self._client) or pause, MAX_PAUSE_SECONDS)
                log.warning(
                    'exchange "%s": %s failed (%s, try %d of %d); again in %.1f s',
                    self.name,
                    what,
                    type(exc).__name__,
                    attempt,
                    tries,
                    wait,
                )
                time.sleep(
                    wait
                )  # network time, not the live clock: the exchange waits in real seconds
                pause = min(pause * 2, MAX_PAUSE_SECONDS)
            except ccxt.BaseError as exc:
                raise CandleDataError(
                    f'exchange "{self.name}" ({self.exchange_id}) refused {what}: '
                    f"{type(exc).__name__}: {str(exc)[:300]}"
                ) from exc


def _retry_after(client: Any) -> float | None:
    headers = getattr(client, "last_response_headers", None) or {}
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: back off instead


def _merge(rows: dict[int, tuple], page: dict[int, tuple], name: str, market: str) -> None:
    for ts, values in page.items():
        held = rows.get(ts)
        if held is not None and held != values:
            raise CandleDataError(
                f'exchange "{name}" sent two different candles for {market} at {iso(ts)} '
                "in two pages; nothing was cached; try again later"
            )
        rows[ts] = values


def _gaps(times: list[int], start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """The (first, last) open times missing from [start_ms, end_ms]."""
    edges = [start_ms - MINUTE_MS, *times, end_ms + MINUTE_MS]
    return [
        (a + MINUTE_MS, b - MINUTE_MS)
        for a, b in zip(edges, edges[1:], strict=False)
        if b - a > MINUTE_MS
    ]


def _frame(rows: list[tuple]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["timestamp"] = frame["timestamp"].astype(np.int64)
    return frame


def ccxt_exchange(
    exchange_name: str,
    exchange_id: str = "binance",
    options: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    cache_dir: str | Path | None = None,
    clock: Clock | None = None,
    **extra,
) -> ExchangeSchema:
    """An exchange whose candles come from ccxt's ``exchange_id``.

    ``options``: the exchange's ccxt options (``exchange.options``); ``config``: the rest
    of ccxt's constructor settings (``timeout``, ``urls``, keys, proxies); ``cache_dir``:
    default ``BTFARM_CANDLE_CACHE_DIR``; ``clock``: what "closed" is measured on (a
    live run's clock)."""
    settings = {**(config or {})}
    if options:
        settings["options"] = {**settings.get("options", {}), **options}
    source = CcxtSource(exchange_id, settings, name=exchange_name, cache_dir=cache_dir, clock=clock)
    return ExchangeSchema(
        exchange_name=exchange_name, get_candles=source.get_candles, source=source, **extra
    )
