"""``Walker.dump`` of one symbol and of several, same walker, same folder (issue 34.2): each
report keeps its own file. The across-symbols report wrote ``{walker}.md`` over the
one-symbol report. A real sweep on the embedded Redis and a real local worker."""

from __future__ import annotations

import pytest

from btfarm.orchestrator import Walker
from btfarm.orchestrator.state_client import reset_state
from btfarm.shared.importing import import_user_module
from btfarm.shared.settings import get_settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]
WALKER = "dump-names"
MODULE = f"""
from btfarm.orchestrator import add_frame, add_walker, sweep
from btfarm.shared.demo import register_demo

register_demo()
add_frame(frame_name="dump-days", interval="1m", start_date="2024-03-01", end_date="2024-03-04T23:59:00Z",
          override=True)
add_walker(walker_name="{WALKER}", exchange_name="synthetic", frame_name="dump-days",
           strategies=[sweep("sma-cross", fast=[5, 10], slow=[30])], override=True)
"""


@pytest.fixture
def embedded(tmp_path, monkeypatch):
    """The walker registered by a module file (what the local worker imports too)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BTFARM_LOCAL_WORKERS", "1")
    get_settings.cache_clear()
    reset_state()
    (tmp_path / "dump_names.py").write_text(MODULE)
    import_user_module(str(tmp_path / "dump_names.py"))
    yield tmp_path / "dump" / "walker"
    reset_state()


def test_the_across_symbols_report_and_the_one_symbol_report_keep_their_own_files(embedded):
    list(Walker.run("BTCUSDT", WALKER))
    one = Walker.dump("BTCUSDT", WALKER)
    assert one == embedded / f"{WALKER}.md"
    alone = one.read_text()
    assert f"# Walker: {WALKER} on BTCUSDT" in alone

    list(Walker.run(["ETHUSDT", "SOLUSDT"], WALKER))
    across = Walker.dump(["ETHUSDT", "SOLUSDT"], WALKER)
    assert across == embedded / f"{WALKER}.symbols.md"
    text = across.read_text()
    assert "## Across symbols" in text and f"[ETHUSDT]({WALKER}.ETHUSDT.md)" in text
    for symbol in ("ETHUSDT", "SOLUSDT"):
        assert f"# Walker: {WALKER} on {symbol}" in (embedded / f"{WALKER}.{symbol}.md").read_text()
    assert one.read_text() == alone  # the one-symbol report is still the one-symbol report
    assert (embedded / f"{WALKER}.symbols.html").exists() and (embedded / f"{WALKER}.html").exists()
