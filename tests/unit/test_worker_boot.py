"""workers/boot.py: Celery's worker command on the farm's app, without the plugin-loading group."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


def _boot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "btfarm.workers.boot", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_boot_takes_celery_worker_options_without_loading_celery_command_plugins():
    done = _boot("--help")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Usage: btfarm worker" in done.stdout
    for option in ("--concurrency", "--pool", "--queues", "--hostname", "--loglevel"):
        assert option in done.stdout
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time")
    }
    assert "celery.bin.worker" in imported
    assert not {"flower", "click_repl", "prompt_toolkit", "celery.bin.celery"} & imported
    assert not {
        name for name in imported if name.startswith("pygments.")
    }  # (its lexer at import: ~25 ms)


def test_pygments_is_hidden_only_while_celery_loads():
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import btfarm.workers.boot, sys; assert 'pygments' not in "
            "sys.modules; import pygments.lexers; print(pygments.lexers.PythonLexer().name)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "Python"


def test_boot_refuses_a_bad_option_as_celery_worker_does():
    done = _boot("--concurrency", "many")
    assert done.returncode == 2
    assert "Invalid value for '-c' / '--concurrency'" in done.stderr and "'many'" in done.stderr
