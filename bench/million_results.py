"""What a million-variant sweep's results cost the orchestrator: ``python bench/million_results.py
[VARIANTS] [PHASE]``.

Builds a synthetic sweep of VARIANTS results (default 1,000,000; a grid of three
parameters) directly in the form the orchestrator holds it: result records packed into
columnar blocks of ``BLOCK`` rows (shared/result_block.py), added to a ``SweepTally`` as
the collector adds them. No worker runs. Each record is what a worker sends: 25
statistics, a fingerprint, and a PnL per day over ``DAYS`` days with a trade on
``TRADE_DAYS`` of them. The packed blocks are cached in the temporary directory
(building them takes about a minute per million).

Then, each PHASE in a fresh process (so each one's peak RSS is its own):

- ``get_data``: ``Walker.get_data``'s ranking (results/ranked_data.py): the best 1,000
  as rows, every variant as columns, the trust figures (DSR over every ranked variant,
  PBO over a sample of 20,000);
- ``trust``: the trust figures alone (the blocks read, each ranked variant's Sharpe
  ratio, SR0, every deflated Sharpe, PBO);
- ``export``: the table written to Parquet a row group at a time
  (sweeps/export.py write_table, with the ranking and trust figures it needs);
- ``baseline``: what get_data and export did before (``SweepTally.data()``, its
  ``to_frame()`` written to Parquet), run with the others up to ``BASELINE_MAX``
  variants (it builds every row: a million take several GB).

It prints each phase's seconds (after the tally is built) and CPU seconds (of all its
threads: on a shared machine the wall time is bound by what else runs), the process's peak
RSS over the phase (VmHWM reset before it), and the RSS the built tally holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BLOCK = 1_000  # variants per block (a chunk's batch)
DAYS = 30  # the reference data's frame
TRADE_DAYS = 10  # days with a closed trade, per variant
PHASES = ("get_data", "trust", "export")
BASELINE_MAX = 200_000  # the baseline phase runs with the others up to this many variants


def grid(total: int) -> list[dict]:
    """One strategy's grid of three parameters with ``total`` combinations (a cube, rounded)."""
    side = round(total ** (1 / 3))
    last = total // (side * side)
    return [
        {
            "base": "cross",
            "keys": ["fast", "slow", "stop"],
            "values": [
                list(range(1, side + 1)),
                list(range(10, 10 + side)),
                [round(0.1 * (i + 1), 2) for i in range(last)],
            ],
            "declared": {"size": 1.0},
            "module": None,
        }
    ]


def records(variants, start: int, stop: int, rng: np.random.Generator) -> list[dict]:
    """Synthetic result records of variants ``start`` to ``stop``."""
    from btfarm.shared import daily_pnl
    from btfarm.shared.payloads import result_record
    from btfarm.shared.stats import BacktestStatistics

    out = []
    floats = [n for n, f in BacktestStatistics.model_fields.items() if f.annotation is not int]
    for index in range(start, stop):
        variant = variants[index]
        at = np.sort(rng.choice(DAYS, TRADE_DAYS, replace=False)).astype(np.int32)
        pnl = np.round(rng.normal(0.02, 1.0, TRADE_DAYS), 6)
        signals = int(rng.integers(5, 60))
        stats = {name: float(rng.normal()) for name in floats}
        stats.update(
            total_signals=signals,
            win_count=signals // 2,
            loss_count=signals - signals // 2,
            rejected_signals=0,
        )
        daily = {
            "days": DAYS,
            "at": daily_pnl._text(at, daily_pnl.AT_DTYPE),
            "pnl": daily_pnl._text(pnl, daily_pnl.PNL_DTYPE),
        }
        fingerprint = {
            "btfarm_version": "0.1.0",
            "strategy_name": variant.strategy_name,
            "params": variant.params,
            "source_hash": "9f2c1e",
            "data_start_ms": 1735689600000,
            "data_end_ms": 1738281600000,
            "candles": 43200,
            "candles_digest": "d1g35t",
            "fee_percent": 0.1,
            "slippage_percent": 0.1,
        }
        out.append(
            result_record(
                variant,
                "done",
                stats=stats,
                fingerprint=fingerprint,
                worker="w1",
                seconds=0.003,
                daily=daily,
                lane="vector",
            )
        )
    return out


def blobs(total: int) -> Path:
    """The cached file of the sweep's packed blocks (each: 8 bytes of length, the block)."""
    from btfarm.shared.result_block import pack
    from btfarm.shared.variant_space import VariantSpace

    cache = Path(tempfile.gettempdir()) / f"btfarm-million-{total}-{BLOCK}-{DAYS}-{TRADE_DAYS}.bin"
    if cache.exists():
        return cache
    variants = VariantSpace(grid(total))
    rng = np.random.default_rng(7)
    scratch = cache.with_suffix(".tmp")
    started = time.perf_counter()
    with scratch.open("wb") as out:
        for start in range(0, len(variants), BLOCK):
            blob = pack(records(variants, start, min(start + BLOCK, len(variants)), rng))
            out.write(len(blob).to_bytes(8, "little") + blob)
    scratch.replace(cache)
    print(f"packed {len(variants):,} results in {time.perf_counter() - started:.0f} s: {cache}")
    return cache


def tally_of(total: int):
    """A SweepTally holding every block of the cached sweep, as the collector adds them."""
    from btfarm.orchestrator.sweeps.tally import SweepTally
    from btfarm.shared.result_block import unpack
    from btfarm.shared.variant_space import VariantSpace

    variants = VariantSpace(grid(total))
    tally = SweepTally("million", "SIM", "sim", "30d", "sharpe_ratio", variants, "run", BLOCK)
    data = blobs(total).read_bytes()
    at = 0
    while at < len(data):
        length = int.from_bytes(data[at : at + 8], "little")
        block = unpack(data[at + 8 : at + 8 + length])
        tally.add_block(block, np.arange(len(block)))
        at += 8 + length
    return tally


def rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def phase(total: int, name: str) -> dict:
    """Run one phase on a freshly built tally; its seconds and peak RSS."""
    from btfarm.orchestrator.results.ranked_data import columns_of, ranked_data
    from btfarm.orchestrator.results.trust_columns import TrustColumns
    from btfarm.orchestrator.sweeps.export import write_table

    tally = tally_of(total)
    held = rss_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM from here
    out = Path(tempfile.mkdtemp(prefix="btfarm-million-")) / "sweep.parquet"
    started, cpu = time.perf_counter(), time.process_time()
    if name == "get_data":
        data = ranked_data(tally)
        note = (
            f"{len(data.strategies)} rows, table of {len(data.table or [])}, "
            f"DSR {data.trust.deflated_sharpe}, PBO {data.trust.pbo} "
            f"({data.trust.pbo_variants} variants)"
        )
    elif name == "trust":
        from btfarm.orchestrator.results.columns import ranking

        ranked, order = ranking(tally)
        rank = np.zeros(len(ranked), dtype=np.int64)
        rank[order] = np.arange(1, len(order) + 1)
        trust = TrustColumns(ranked, rank)
        for block, rows in tally.held.current():
            trust.add(block, rows)
        figures, _, _ = trust.figures(order, tally.best[2] if tally.best else None, tally.name_of)
        note = (
            f"DSR {figures.deflated_sharpe} over {figures.trials:,}, PBO {figures.pbo} over "
            f"{figures.pbo_variants:,} ({figures.pbo_splits} splits)"
        )
    elif name == "export":
        rows = write_table(columns_of(tally)[0], out)
        note = f"{rows:,} rows, {out.stat().st_size / 1e6:.0f} MB of Parquet"
    elif name == "baseline":
        frame = tally.data().to_frame()
        frame.to_parquet(out, index=False)
        note = f"{len(frame):,} rows"
    else:
        raise SystemExit(f"unknown phase {name!r}: one of {', '.join(PHASES)}, baseline")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "phase": name,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),  # of every thread (PBO runs on two)
        "peak_rss_mb": round(rss_mb("VmHWM"), 0),
        "tally_rss_mb": round(held, 0),
        "note": note,
    }


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    if len(sys.argv) > 2:
        print(json.dumps(phase(total, sys.argv[2])))
        return
    blobs(total)
    for name in PHASES + (("baseline",) if total <= BASELINE_MAX else ()):
        line = subprocess.run(
            [sys.executable, __file__, str(total), name],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ},
        ).stdout.strip()
        print(line.splitlines()[-1])


if __name__ == "__main__":
    main()
