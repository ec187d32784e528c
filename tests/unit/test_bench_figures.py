"""``bench/run.py --figures``: a bench run as rows of docs/benchmarks.md's current-figures table."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "bench" / "run.py"
PAGE = REPO / "docs" / "benchmarks.md"
EVENT = {
    "engine": "btfarm-event",
    "case": "single",
    "median_seconds": 0.0226,
    "min_seconds": 0.0211,
    "max_seconds": 0.0241,
    "candle_evals_per_second": 1.91e6,
    "peak_rss_mb": 91.4,
    "peak_child_rss_mb": 0.0,
    "trades_10_30": 340,
}
FARM = {
    "engine": "btfarm-farm-2",
    "case": "grid53",
    "median_seconds": 0.059,
    "min_seconds": 0.055,
    "max_seconds": 0.07,
    "candle_evals_per_second": 38.8e6,
    "peak_rss_mb": 147.2,
    "peak_child_rss_mb": 160.0,
    "trades_10_30": None,
}
SKIPPED = {"engine": "vectorbt", "case": "single", "error": ["vectorbt is not installed"]}


@pytest.fixture(scope="module")
def bench_run():
    spec = importlib.util.spec_from_file_location("bench_run", RUN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _header(table: str) -> str:
    return next(line for line in table.splitlines() if line.startswith("| case |"))


def test_rows_carry_the_figures_date_command_and_machine(bench_run):
    table = bench_run.figures(
        [EVENT, FARM, SKIPPED], "2026-12-06", "python bench/run.py --quick", "2 cores, 24 GiB"
    )
    lines = table.splitlines()
    assert lines[0].startswith("Machine: 2 cores, 24 GiB.")
    rows = [
        line for line in lines if line.startswith("| ") and not line.startswith(("| case", "| ---"))
    ]
    assert rows == [
        "| single | btfarm-event | 0.0226 (0.0211-0.0241) | 1.9 | 91 | 340 | 2026-12-06 | `python bench/run.py --quick` |",
        "| grid53 | btfarm-farm-2 | 0.059 (0.055-0.07) | 38.8 | worker 147, orchestrator 160 |  | 2026-12-06 "
        "| `python bench/run.py --quick` |",
    ]  # the skipped engine has no row


def test_the_page_and_the_option_share_one_table_form(bench_run):
    made = _header(
        bench_run.figures([EVENT], "2026-12-06", "python bench/run.py", "2 cores, 24 GiB")
    )
    assert _header(PAGE.read_text()) == made


def test_the_command_leaves_out_where_the_output_goes(bench_run):
    argv = [
        "--quick",
        "--figures",
        "-",
        "--out=/tmp/x",
        "--cases",
        "single",
        "--from-json",
        "b.json",
    ]
    assert bench_run.command_line(argv) == "python bench/run.py --quick --cases single"


def test_from_json_prints_a_past_run_without_running_it(tmp_path):
    saved = tmp_path / "bench.json"
    saved.write_text(
        json.dumps([{**EVENT, "measured": "2026-12-05", "command": "python bench/run.py --quick"}])
    )
    done = subprocess.run(
        [sys.executable, str(RUN), "--from-json", str(saved), "--figures", "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "| single | btfarm-event | 0.0226 (0.0211-0.0241) |" in done.stdout
    assert "| 2026-12-05 | `python bench/run.py --quick` |" in done.stdout
