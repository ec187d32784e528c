"""What the CLI prints must not mislead: whole names, one-line errors, --help always works."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from rich.console import Console

from btfarm.orchestrator.cli.console import status_table, summary_table
from btfarm.orchestrator.cli.walker import grouped

pytestmark = pytest.mark.unit

NAMES = [f"sma-cross[fast={f},slow={s},stop=0.015]" for f, s in ((5, 20), (5, 40), (10, 20))]


def rendered(table, width: int = 80) -> str:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(table)
    return out.getvalue()


def test_the_summary_never_truncates_variant_names_at_80_columns():
    stats = {
        "total_signals": 120,
        "win_rate": 51.25,
        "total_pnl": -3.5,
        "avg_pnl": -0.03,
        "sharpe_ratio": -0.012,
        "max_drawdown": 9.9,
        "rejected_signals": 7,
    }
    text = rendered(summary_table("sweep", [(n, stats) for n in NAMES]))
    for name in NAMES:
        assert name in text, text
    assert "…" not in text


def test_the_instance_list_never_cuts_the_ids_and_names_stop_and_resume_take():
    rows = [
        {
            "mode": "walker",
            "id": "3f9c0a17d2e4b856",
            "symbol": "BTCUSDT",
            "name": NAMES[0],
            "status": "done",
            "outcome": "interrupted",
            "progress": 0.5,
            "host": "farm-host-1",
            "pid": 12345,
        }
    ]
    text = rendered(status_table(rows))
    for part in ("3f9c0a17d2e4b856", NAMES[0], "interrupted"):
        assert part in text, text


def test_failures_are_grouped_one_line_per_reason_naming_the_strategy_with_its_params_folded():
    reasons = [f'failed: strategy "{n}" raised ValueError' for n in NAMES] + ["failed: timeout"]
    assert grouped(reasons, [*NAMES, "other"], ["sma-cross"] * 3 + ["other"]) == [
        '3 x failed: strategy "sma-cross[...]" raised ValueError',
        "1 x failed: timeout",
    ]
    # a strategy without params keeps its name; a base with brackets of its own is taken as given
    assert grouped(
        ['failed: strategy "plain" raised KeyError'] * 2 + ['failed: strategy "b[1][x=2]" raised'],
        ["plain", "plain", "b[1][x=2]"],
        ["plain", "plain", "b[1]"],
    ) == ['2 x failed: strategy "plain" raised KeyError', '1 x failed: strategy "b[1][...]" raised']


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    return subprocess.run(
        [sys.executable, "-m", "btfarm.orchestrator.cli", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_misspelt_variable_is_one_error_line_with_the_suggestion_and_help_still_works(tmp_path):
    done = cli("list", BTFARM_NATIV="1", BTFARM_STATE_DIR=str(tmp_path))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: unknown environment variable BTFARM_NATIV."
    )
    assert 'Did you mean "BTFARM_NATIVE"' in lines[0]
    helped = cli("--help", BTFARM_NATIV="1")
    assert helped.returncode == 0 and "Usage: btfarm" in helped.stdout


def test_btfarm_walker_prints_the_run_id_even_when_the_sweep_starts_at_once(monkeypatch):
    """The run id line comes from the walker_start event; a sweep whose run thread emits it
    before the CLI listens (a busy machine) left it out (the CLI launched, then subscribed)."""
    from click.testing import CliRunner

    from btfarm.orchestrator.cli.walker import walker
    from btfarm.orchestrator.walker import Walker
    from btfarm.shared import events

    class Ranked(Exception):
        pass

    def run_at_once(symbol, walker_name, chunk_size=None):
        events.emit(
            "walker_start",
            {
                "run_id": "r-0123",
                "walker_name": walker_name,
                "symbol": symbol,
                "total_strategies": 2,
                "resumed": 0,
                "to_run": 2,
            },
        )
        return iter(())

    def get_data(symbol, walker_name):
        raise Ranked  # what follows the progress is not this test's

    monkeypatch.setattr(Walker, "run", staticmethod(run_at_once))
    monkeypatch.setattr(Walker, "get_data", staticmethod(get_data))
    result = CliRunner().invoke(walker, [])
    assert isinstance(result.exception, Ranked), result.output
    assert "sweep r-0123 (if interrupted: btfarm walker resume r-0123)" in result.output


HOSTILE = "evil\x1b]0;pwned\x07\x1b[2J\x1b[31m[bold]red[/]\r\nforged line\u202egnp.exe\x9b"


def test_printable_writes_control_characters_as_escapes_and_escapes_rich_markup():
    from btfarm.orchestrator.cli.console import printable

    plain = printable(HOSTILE, markup=False)
    assert (
        plain == r"evil\x1b]0;pwned\x07\x1b[2J\x1b[31m[bold]red[/]\r\nforged line\u202egnp.exe\x9b"
    )
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(printable(HOSTILE), highlight=False)
    assert out.getvalue() == plain + "\n"  # markup shown as typed, nothing interpreted


@pytest.mark.parametrize("width", [200, 40])  # a table, then one line per instance
def test_the_instance_list_and_the_summary_print_no_control_character(width):
    row = {
        "mode": "walker",
        "id": HOSTILE,
        "symbol": HOSTILE,
        "name": HOSTILE,
        "status": "running",
        "progress": 0.5,
        "host": HOSTILE,
        "pid": 1,
    }
    for table in (status_table([row]), summary_table("sweep", [(HOSTILE, {"total_signals": 1})])):
        text = rendered(table, width)
        assert not {"\x1b", "\x07", "\r", "\u202e", "\x9b"} & set(text), repr(text)
        assert r"\x1b]0;pwned\x07" in text.replace("\n", "").replace(" ", "").replace("│", "")


def test_an_error_naming_what_was_typed_is_one_inert_line(tmp_path):
    """The error line and the progress bar show a name as text: no escape sequence reaches
    the terminal, and a "[/]" in it is no markup (rich raised MarkupError, a traceback)."""
    done = cli(
        "backtest",
        "json",
        "--symbol",
        "S\x1b[2J",
        "--strategy",
        "x\x1b]0;pwned\x07[/]",
        "--exchange",
        "e",
        "--frame",
        "f",
        BTFARM_STATE_DIR=str(tmp_path),
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "\x1b" not in done.stdout + done.stderr and "\x07" not in done.stderr
    assert r'error: strategy "x\x1b]0;pwned\x07[/]" not found' in done.stderr
