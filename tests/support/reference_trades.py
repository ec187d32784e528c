"""The engine's closed signals held to the reference simulator (position_reference.py):
a closed record as the simulator writes a trade (``reference_view``), where two trade lists
differ (``differences``), and the counts the simulator derives from the rules on the
reference data (``PINNED``), which say each rule was really exercised."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

# counts the reference simulator derived from the rules on examples/data/sim-30d-1m.csv
PINNED = {
    "trailing": (
        421,
        292,
        52,
        129,
    ),  # trades, stops trailed, stopped out in profit, take profits brought in
    "partials": (340, 166, 157, 25),  # trades, profit partials, loss partials, trades with both
    "breakeven": (353, 143, 143, 143),  # trades, stops at the entry, calls applied, calls refused
    "averaging": (340, 183, 70, 87),  # trades with 1, 2 and 3 entries
    "user_close": (784, 711),  # trades, closed by the user
    "no_expiry": (208, 85, 122),  # trades, take profits, stop losses
}


def reference_view(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Closed records as tests/support/position_reference.py writes its trades."""
    return [
        {
            "pending_at": c["signal"]["pending_at"],
            "position": c["signal"]["position"],
            "close_timestamp": c["close_timestamp"],
            "close_reason": c["close_reason"],
            "close_price": c["current_price"],
            "close_id": c["signal"]["close_id"],
            "price_open": c["signal"]["price_open"],
            "price_stop_loss": c["signal"]["price_stop_loss"],
            "price_take_profit": c["signal"]["price_take_profit"],
            "entries": [(e["price"], e["cost"], e["timestamp"]) for e in c["signal"]["entries"]],
            "partials": [
                (
                    q["type"],
                    q["percent"],
                    q["current_price"],
                    q["cost_basis_at_close"],
                    q["entry_count_at_close"],
                    q["timestamp"],
                )
                for q in c["signal"]["partials"]
            ],
            "pnl": c["pnl"]["pnl_percentage"],
            "pnl_entries": c["pnl"]["pnl_entries"],
        }
        for c in records
    ]


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two trade lists differ: exact for str/int/None, 1e-9 relative for floats."""
    if isinstance(a, float) or isinstance(b, float):
        ok = (
            isinstance(a, int | float)
            and isinstance(b, int | float)
            and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-11)
        )
        return [] if ok else [f"{path}: {a!r} != {b!r}"]
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)}"]
        return [
            d
            for k, (x, y) in enumerate(zip(a, b, strict=True))
            for d in differences(x, y, f"{path}[{k}]")
        ]
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a)} != {sorted(b)}"]
        return [d for k in a for d in differences(a[k], b[k], f"{path}.{k}")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]
