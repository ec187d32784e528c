"""A real headless Chromium (Debian's ``chromium``) for the HTML reports: screenshots
and the DOM after scripts ran, with every console message the page logged."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--enable-logging=stderr",
    "--v=0",
]
TIMEOUT_SECONDS = 60
_CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]? ?(.*)")


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise AssertionError(
            "chromium is not installed: .ci/run installs it (apt-get install chromium)"
        )
    return found


def _run(args: list[str]) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    done = subprocess.run(
        [chromium(), *FLAGS, *args], capture_output=True, text=True, timeout=TIMEOUT_SECONDS
    )
    console = [m.group(1) for line in done.stderr.splitlines() if (m := _CONSOLE.search(line))]
    return done, console


def screenshot(page: Path, png: Path, width: int = 1200, height: int = 2400) -> list[str]:
    """Screenshot ``page`` into ``png``; returns what the page logged to its console."""
    done, console = _run(
        [f"--window-size={width},{height}", f"--screenshot={png}", page.resolve().as_uri()]
    )
    assert done.returncode == 0 and png.exists(), done.stderr[-2000:]
    return console


def dom_after_scripts(page: Path) -> tuple[str, list[str]]:
    """The DOM once the page's scripts ran (and a little virtual time passed)."""
    done, console = _run(["--virtual-time-budget=3000", "--dump-dom", page.resolve().as_uri()])
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, console
