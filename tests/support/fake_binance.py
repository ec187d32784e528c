"""A local fake of the Binance spot REST API, the subset ccxt uses for market data.

``GET /api/v3/exchangeInfo`` (what ``load_markets`` reads) and ``GET
/api/v3/klines`` (``fetch_ohlcv``: ``symbol``, ``interval=1m``, ``startTime``,
``endTime``, ``limit`` up to 1000), answered from candle files as Binance
answers: rows ``[open time, "open", "high", "low", "close", "volume", close
time, ...]``, an unknown symbol as HTTP 400 with Binance's error ``-1121``.

Faults are scripted per klines request (``FakeBinance.fail_next``): ``429``
with a ``Retry-After`` header, ``500``, ``timeout`` (the answer held past the
client's timeout), ``gap`` (a minute left out of the page), ``duplicate`` (a
row repeated), ``conflict`` (a row repeated with another close). Every request
is counted, so a test can prove the cache made none.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd

MINUTE_MS = 60_000
MAX_LIMIT = 1000
FAULTS = ("429", "500", "timeout", "gap", "duplicate", "conflict")
RETRY_AFTER_SECONDS = 1


def _market(symbol: str, base: str, quote: str) -> dict:
    return {
        "symbol": symbol,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "MARKET"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "permissions": ["SPOT"],
        "permissionSets": [["SPOT"]],
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.01",
                "maxPrice": "1000000.00",
                "tickSize": "0.01",
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": "0.00001",
                "maxQty": "9000.0",
                "stepSize": "0.00001",
            },
            {"filterType": "NOTIONAL", "minNotional": "5.0", "maxNotional": "9000000.0"},
        ],
    }


class FakeBinance:
    """The server, on a free loopback port, in a thread; ``close`` stops it."""

    def __init__(self, files: dict[str, Path], hold_seconds: float = 2.0) -> None:
        """``files``: Binance symbol id ("SIMUSDT", base "SIM", quote "USDT") -> a candle CSV."""
        self.frames = {sym: self._rows(path) for sym, path in files.items()}
        self.hold_seconds = hold_seconds  # a "timeout" answer waits this long
        self.requests: Counter[str] = Counter()
        self.faults: deque[str | None] = deque()
        self.asked: list[int] = []  # startTime of each klines request, in order
        self.asked_at: list[float] = []  # and when it came (time.monotonic)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-binance", daemon=True
        )

    @staticmethod
    def _rows(path: Path) -> pd.DataFrame:
        frame = pd.read_csv(path)
        column = "timestamp" if "timestamp" in frame.columns else "timestamp_ms"
        frame["open_ms"] = (
            pd.to_datetime(frame[column], utc=True).astype("int64") // 1_000_000
            if frame[column].dtype == object
            else frame[column].astype("int64")
        )
        return frame.set_index("open_ms").sort_index()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def ccxt_config(self) -> dict:
        """What ``ccxt.binance(config)`` needs to talk to this server instead of Binance."""
        api = f"{self.url}/api/v3"
        return {
            "urls": {"api": {"public": api, "private": api, "v1": f"{self.url}/api/v1"}},
            "options": {"fetchMarkets": ["spot"]},
            "rateLimit": 2,
            "timeout": 1000,
        }  # ccxt's limiter still spaces requests; a "timeout" fault trips it

    def fail_next(self, *faults: str, after: int = 0) -> None:
        """The next klines requests answer ``faults`` in order, once ``after`` more were served."""
        unknown = [f for f in faults if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; known: {FAULTS}")
        with self._lock:
            self.faults.extend([None] * after + list(faults))

    def start(self) -> FakeBinance:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeBinance:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _next_fault(self) -> str | None:
        with self._lock:
            return self.faults.popleft() if self.faults else None

    def klines(self, query: dict[str, str]) -> tuple[int, list | dict, dict[str, str]]:
        symbol = query.get("symbol", "")
        if symbol not in self.frames:
            return 400, {"code": -1121, "msg": "Invalid symbol."}, {}
        if query.get("interval") != "1m":
            return 400, {"code": -1120, "msg": "Invalid interval."}, {}
        fault = self._next_fault()
        self.asked.append(int(query.get("startTime", -1)))
        self.asked_at.append(time.monotonic())
        if fault == "429":
            return (
                429,
                {"code": -1003, "msg": "Too many requests."},
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        if fault == "500":
            return 500, {"code": -1000, "msg": "An unknown error occurred."}, {}
        if fault == "timeout":
            time.sleep(self.hold_seconds)
        frame = self.frames[symbol]
        start = int(query.get("startTime", frame.index[0]))
        end = int(query.get("endTime", frame.index[-1]))
        limit = min(int(query.get("limit", 500)), MAX_LIMIT)
        page = frame[(frame.index >= start) & (frame.index <= end)].head(limit)
        rows = [
            [
                int(ts),
                f"{r.open}",
                f"{r.high}",
                f"{r.low}",
                f"{r.close}",
                f"{r.volume}",
                int(ts) + MINUTE_MS - 1,
                "0",
                1,
                "0",
                "0",
                "0",
            ]
            for ts, r in page.iterrows()
        ]
        if fault == "gap" and len(rows) > 2:
            del rows[len(rows) // 2]
        if fault in ("duplicate", "conflict") and len(rows) > 2:
            copy = list(rows[len(rows) // 2])
            if fault == "conflict":
                copy[4] = f"{float(copy[4]) * 1.01}"
            rows.insert(len(rows) // 2 + 1, copy)
        return 200, rows, {}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                fake.requests[parts.path] += 1
                if parts.path == "/api/v3/exchangeInfo":
                    markets = [_market(s, s[:-4], s[-4:]) for s in fake.frames]
                    status, body, headers = (
                        200,
                        {
                            "timezone": "UTC",
                            "serverTime": int(time.time() * 1000),
                            "rateLimits": [],
                            "exchangeFilters": [],
                            "symbols": markets,
                        },
                        {},
                    )
                elif parts.path == "/api/v3/klines":
                    status, body, headers = fake.klines(query)
                elif parts.path in ("/api/v3/ping", "/api/v3/time"):
                    status, body, headers = 200, {"serverTime": int(time.time() * 1000)}, {}
                else:
                    status, body, headers = 404, {"code": -1, "msg": f"not faked: {parts.path}"}, {}
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a "timeout" fault): nothing to answer

            def log_message(self, *args) -> None:
                pass

        return Handler
