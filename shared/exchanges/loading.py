"""Loading one symbol's 1m candles for a range from any registered exchange."""

from __future__ import annotations

from ..candles import Candles, to_candles
from ..errors import CandleDataError
from ..intervals import MINUTE_MS
from ..schemas import ExchangeSchema, to_utc

PAGE = 1000  # candles asked of a user exchange per get_candles call


def load_candles(exchange: ExchangeSchema, symbol: str, start_ms: int, end_ms: int) -> Candles:
    """1m candles opening in [start_ms, end_ms], validated, from ``exchange``."""
    source = exchange.source
    if source is not None and hasattr(source, "load_range"):
        return source.load_range(symbol, start_ms, end_ms)
    pages = []
    since = start_ms
    while since <= end_ms:
        limit = min(PAGE, (end_ms - since) // MINUTE_MS + 1)
        try:
            raw = exchange.get_candles(symbol, "1m", to_utc(since), int(limit))
        except Exception as exc:
            raise CandleDataError(
                f'exchange "{exchange.exchange_name}": get_candles({symbol!r}, "1m", {since}, {limit}) raised {exc!r}'
            ) from exc
        page = to_candles(raw, exchange.exchange_name, symbol)
        if not len(page):
            break
        pages.append(page.slice_ms(since, end_ms))
        since = int(page.timestamp[-1]) + MINUTE_MS
    if not pages:
        return to_candles([], exchange.exchange_name, symbol)
    import numpy as np

    from ..candles import COLUMNS

    joined = {c: np.concatenate([getattr(p, c) for p in pages]) for c in COLUMNS}
    return to_candles(joined, exchange.exchange_name, symbol)
