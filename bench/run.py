"""The bench: btfarm against its peers on equal work, side by side in one run.

    pip install -e ".[bench]"          # backtesting.py 0.6.6; vectorbt and raptorbt are optional
    python bench/run.py                # all cases, several runs each (takes minutes)
    python bench/run.py --quick        # one run per peer, for a smoke check
    python bench/run.py --figures -    # also print the current-figures table of docs/benchmarks.md
    python bench/run.py --from-json bench/results/bench.json --figures -   # that table of a past run

Cases (examples/data/README.md): single = (10,30); walker8; grid53; search200 (a
200-trial TPE search, on the farm engines). Each
(engine, case) runs in its own process (peak RSS is that engine's own), each
several times; figures are medians with min-max. A candle-eval is one
1-minute candle of one variant. Results: bench/results/bench.json and .md.
``--figures PATH`` also writes the run as the "Current figures" table of
docs/benchmarks.md (one row per engine and case, with the date, the command and
the machine), ready to paste there; ``-`` prints it.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cases import CANDLES, CASES  # noqa: E402

PLAN = {  # engine -> cases it runs
    "btfarm-event": ["single", "walker8"],
    "btfarm-vector": ["single", "walker8", "grid53"],
    "btfarm-farm-1": ["walker8", "grid53", "search200", "year1000"],
    "btfarm-farm-2": ["walker8", "grid53", "search200", "year1000", "year10k"],
    "backtesting.py": ["single", "walker8", "grid53"],
    "vectorbt": ["single", "walker8", "grid53"],
    "raptorbt": ["single", "walker8", "grid53", "year1000"],
}
PEERS = ("backtesting.py", "vectorbt", "raptorbt")
FARMS = ("btfarm-farm-1", "btfarm-farm-2")
YEAR_CASES = ("year1000", "year10k")  # over bench/data/SIMUSDT.parquet (bench/make_year.py)
SEARCH_CASES = (
    "search200",
)  # a TPE search of 200 trials on the 30 days (bench/farm_strategies.py)
FARM_ROUNDS = 3  # farm-1 and farm-2 take turns, so a slow spell of the machine hits both alike
OPTIONAL = {
    "backtesting.py": "backtesting",
    "vectorbt": "vectorbt",
    "raptorbt": "raptorbt",
}  # engine -> module it needs


def available(engine: str) -> str | None:
    """None when the engine can run here, else why not."""
    module = OPTIONAL.get(engine)
    if module and importlib.util.find_spec(module) is None:
        extra = f" {module}" if module in ("vectorbt", "raptorbt") else ""  # optional peers
        return f"{module} is not installed (pip install -e '.[bench]'{extra})"
    return None


def measure(engine: str, case: str, runs: int) -> dict:
    script = "farm.py" if engine.startswith("btfarm-farm") else "engines.py"
    cmd = [sys.executable, str(HERE / script), engine, case, str(runs)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        return {
            "engine": engine,
            "case": case,
            "error": done.stderr.strip().splitlines()[-1:] or ["failed"],
        }
    return json.loads(done.stdout.strip().splitlines()[-1])


def merge(parts: list[dict]) -> dict:
    """One result from the rounds of one (engine, case): all their runs, the worst peak RSS."""
    failed = [p for p in parts if "error" in p]
    if failed:
        return failed[0]
    merged = {**parts[-1], "seconds": [t for p in parts for t in p["seconds"]]}
    for key in ("peak_rss_mb", "peak_child_rss_mb"):
        merged[key] = max(p[key] for p in parts)
    return merged


def summarise(result: dict) -> dict:
    if "error" in result:
        return result
    seconds = result["seconds"]
    variants = len(result["trades"])
    median = statistics.median(seconds)
    first = CASES.get(result["case"], [None])[0]
    return {
        **result,
        "median_seconds": median,
        "min_seconds": min(seconds),
        "max_seconds": max(seconds),
        "candle_evals_per_second": result.get("candles", CANDLES) * variants / median,
        "trades_10_30": result["trades"][0] if first == (10, 30) else None,
        "mean_trades": statistics.fmean(result["trades"]) if result["trades"] else None,
    }


def ratios(rows: list[dict]) -> list[str]:
    lines = []
    by = {(r["engine"], r["case"]): r for r in rows if "error" not in r}
    for case in [*CASES, *SEARCH_CASES, *YEAR_CASES]:
        ours = [r for (e, c), r in by.items() if c == case and e.startswith("btfarm")]
        for peer in PEERS:
            theirs = by.get((peer, case))
            if not theirs:
                continue
            for mine in ours:
                lines.append(
                    f"{case}: {mine['engine']} is {theirs['median_seconds'] / mine['median_seconds']:.1f}x "
                    f"{peer}"
                )
        one, two = by.get(("btfarm-farm-1", case)), by.get(("btfarm-farm-2", case))
        if one and two:
            lines.append(
                f"{case}: 2 workers vs 1: {one['median_seconds'] / two['median_seconds']:.2f}x"
            )
    for engine in FARMS:
        grid, found = by.get((engine, "grid53")), by.get((engine, "search200"))
        if grid and found:
            lines.append(
                f"search200 on {engine}: {found['median_seconds']:.2f} s for 200 trials, "
                f"{found['median_seconds'] / 200 * 1000:.1f} ms a trial (grid53: "
                f"{grid['median_seconds'] / 53 * 1000:.1f} ms a variant)"
            )
    return lines


def markdown(rows: list[dict], notes: list[str]) -> str:
    out = [
        "| case | engine | median s | min-max s | M candle-evals/s | peak RSS MB (self/children) | trades (10,30) | mean trades |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if "error" in r:
            out.append(
                f"| {r['case']} | {r['engine']} | skipped: {' '.join(r['error'])} | | | | | |"
            )
            continue
        out.append(
            f"| {r['case']} | {r['engine']} | {r['median_seconds']:.3f} | {r['min_seconds']:.3f}-"
            f"{r['max_seconds']:.3f} | {r['candle_evals_per_second'] / 1e6:.2f} | "
            f"{r['peak_rss_mb']:.0f}/{r['peak_child_rss_mb']:.0f} | {r['trades_10_30'] or ''} | "
            f"{r['mean_trades']:.1f} |"
        )
    return "\n".join(out + [""] + [f"- {n}" for n in notes]) + "\n"


FIGURE_COLUMNS = (
    "case",
    "engine",
    "median s (min-max)",
    "M candle-evals/s",
    "peak RSS MB",
    "trades (10,30)",
    "measured",
    "command",
)


def machine() -> str:
    """This machine as docs/benchmarks.md names it: cores and memory."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {memory:.0f} GiB"


def figures(rows: list[dict], measured: str, command: str, host: str) -> str:
    """The "Current figures" table of docs/benchmarks.md for one bench run.

    The page's table holds rows of several runs and scripts, each with its date and
    command, so every row here carries them too; the machine heads the table.
    """
    out = [
        f"Machine: {host}. Medians of the runs, in seconds; a candle-eval is one 1-minute candle of "
        "one variant.",
        "",
        "| " + " | ".join(FIGURE_COLUMNS) + " |",
        "| " + " | ".join("---" for _ in FIGURE_COLUMNS) + " |",
    ]
    for r in rows:
        if "error" in r:
            continue  # a skipped engine has no figure; bench.md says why
        cells = (
            r["case"],
            r["engine"],
            f"{r['median_seconds']:.3g} ({r['min_seconds']:.3g}-{r['max_seconds']:.3g})",
            f"{r['candle_evals_per_second'] / 1e6:.1f}",
            peak_rss(r),
            str(r["trades_10_30"] or ""),
            measured,
            f"`{command}`",
        )
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def peak_rss(row: dict) -> str:
    """A row's peak RSS in words: farm.py reports its workers' peak and its own (the orchestrator's)."""
    if row["engine"] in FARMS:
        return f"worker {row['peak_rss_mb']:.0f}, orchestrator {row['peak_child_rss_mb']:.0f}"
    children = (
        f" + children {row['peak_child_rss_mb']:.0f}" if row["peak_child_rss_mb"] >= 1 else ""
    )
    return f"{row['peak_rss_mb']:.0f}{children}"


def command_line(argv: list[str]) -> str:
    """How this run was started, without the options that only choose where its output goes."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--figures", "--from-json", "--out"):
            skip = True
        elif not arg.startswith(("--figures=", "--from-json=", "--out=")):
            kept.append(arg)
    return " ".join(["python bench/run.py", *kept])


def write_figures(rows: list[dict], where: str, measured: str, command: str) -> None:
    table = figures(rows, measured, command, machine())
    if where == "-":
        print(table)
    else:
        Path(where).write_text(table)
        print(f"wrote {where}", file=sys.stderr)


def farm_rounds(engines: list[str], case: str, runs: int) -> list[dict]:
    """``runs`` timed runs of each farm engine on ``case``, in alternating rounds."""
    per_round = max(1, -(-runs // FARM_ROUNDS))
    parts: dict[str, list[dict]] = {e: [] for e in engines}
    for index in range(FARM_ROUNDS if runs > 1 else 1):
        for engine in engines:
            print(
                f"running {engine} on {case} (round {index + 1}) ...", file=sys.stderr, flush=True
            )
            parts[engine].append(measure(engine, case, per_round))
    return [summarise(merge(parts[e])) for e in engines]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=6, help="timed runs per btfarm engine and case")
    parser.add_argument("--peer-runs", type=int, default=3, help="timed runs per peer and case")
    parser.add_argument("--quick", action="store_true", help="2 btfarm runs, 1 peer run")
    parser.add_argument(
        "--engines", default=",".join(PLAN), help="comma-separated subset of " + ",".join(PLAN)
    )
    parser.add_argument(
        "--cases",
        default=",".join([*CASES, *SEARCH_CASES, "year1000"]),
        help="comma-separated subset of "
        + ",".join([*CASES, *SEARCH_CASES, *YEAR_CASES])
        + " (year10k, ~2 minutes, only when named)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument(
        "--figures",
        metavar="PATH",
        help="also write the run as docs/benchmarks.md's current-figures table to PATH (- prints it)",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        metavar="BENCH_JSON",
        help="run nothing: make the --figures table from a past run's bench.json",
    )
    args = parser.parse_args()
    if args.from_json:
        if not args.figures:
            parser.error("--from-json only makes the --figures table: add --figures PATH (or -)")
        rows = json.loads(args.from_json.read_text())
        first = next(
            (r for r in rows if "measured" in r), {}
        )  # runs before the date was kept: the file's
        measured = (
            first.get("measured")
            or datetime.date.fromtimestamp(args.from_json.stat().st_mtime).isoformat()
        )
        write_figures(rows, args.figures, measured, first.get("command", "python bench/run.py"))
        return
    measured = datetime.datetime.now(datetime.UTC).date().isoformat()
    command = command_line(sys.argv[1:])
    runs, peer_runs = (2, 1) if args.quick else (args.runs, args.peer_runs)
    wanted_cases = set(args.cases.split(","))
    year_data = HERE / "data" / "SIMUSDT.parquet"
    rows = []
    started = time.perf_counter()
    engines = args.engines.split(",")
    for engine in engines:
        why = available(engine)
        for case in PLAN[engine]:
            if case not in wanted_cases:
                continue
            if case in YEAR_CASES and not year_data.exists():
                why = f"{year_data} is missing: run python bench/make_year.py first"
            if why:
                rows.append({"engine": engine, "case": case, "error": [why]})
                continue
            if engine in FARMS and case not in YEAR_CASES:
                if engine == FARMS[0] or FARMS[0] not in engines:  # the first farm engine runs both
                    rows.extend(farm_rounds([e for e in FARMS if e in engines], case, runs))
                continue
            print(f"running {engine} on {case} ...", file=sys.stderr, flush=True)
            rows.append(summarise(measure(engine, case, peer_runs if engine in PEERS else runs)))
    rows = [{**r, "measured": measured, "command": command} for r in rows]
    notes = ratios(rows)
    notes.append(
        "backtesting.py fills at the next bar's open and vectorbt at the close; btfarm at the "
        "5-candle VWAP (docs/semantics.md), so trade counts differ by a few percent."
    )
    notes.append(
        "vectorbt's from_signals has no time stop; the bench closes 120 bars after each entry "
        "signal instead, which also cuts positions opened later, so its trade count runs high. "
        "Its first call includes numba compilation (setup_seconds in the JSON)."
    )
    notes.append(
        "raptorbt gets vectorbt's signals, each variant's longs and shorts as two independent books "
        "(its items hold one direction), filled at the bar's close with 1 % fixed stop and target; "
        "its trade count is not comparable, only its time."
    )
    notes.append(f"bench wall time {time.perf_counter() - started:.0f} s")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(rows, indent=2))
    table = markdown(rows, notes)
    (args.out / "bench.md").write_text(table)
    print(table)
    if args.figures:
        write_figures(rows, args.figures, measured, command)


if __name__ == "__main__":
    main()
