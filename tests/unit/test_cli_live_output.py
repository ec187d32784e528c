"""`btfarm live` prints what strategies and exchanges wrote with control characters escaped
(issue 29 §3): a rejection's message cannot recolour or clear the terminal."""

import pytest

from btfarm.orchestrator.cli.console import err_console
from btfarm.orchestrator.cli.live import _show_rejections
from btfarm.shared import events

pytestmark = pytest.mark.unit

HOSTILE = "bad\x1b[2J\x1b]0;owned\x07 [bold]note[/bold]\rforged"


@pytest.mark.parametrize(
    "emit",
    [
        lambda: events.emit("error", {"kind": "SignalError", "message": HOSTILE}),
        lambda: events.emit("error", {"kind": "DataCoverageError", "message": HOSTILE}),
        lambda: events.emit("risk", {"message": HOSTILE}),
    ],
)
def test_a_rejection_message_is_printed_with_its_control_characters_escaped(emit):
    unsubscribe = _show_rejections()
    try:
        with err_console.capture() as captured:
            emit()
    finally:
        unsubscribe()
    out = captured.get()
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "\\x1b[2J" in out and "\\r" in out
    assert "[bold]note[/bold]" in out  # printed as written, not as rich markup
