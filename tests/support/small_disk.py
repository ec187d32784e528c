"""A real small disk for tests: a tmpfs mounted on a folder, that a test fills or makes read-only.

Tests run as root, where ``chmod 0o555`` blocks nothing; a mount is the only
honest read-only or full folder. Mounting needs root (CAP_SYS_ADMIN): without
it the test is skipped with the reason shown.
"""

from __future__ import annotations

import contextlib
import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SIZE = "64k"  # the disk's size: a few reports fit, a filler file takes the rest
FILLER_CHUNK_BYTES = 4096  # written until the disk refuses


class SmallDisk:
    """A tmpfs on ``path``: ``fill()`` leaves no free byte, ``read_only()`` remounts it so."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fill(self) -> Path:
        filler = self.path / "filler"
        with open(filler, "ab", buffering=0) as handle:
            while True:
                try:
                    handle.write(b"\0" * FILLER_CHUNK_BYTES)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
            while True:  # the last partial page
                try:
                    handle.write(b"\0")
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    return filler

    def read_only(self) -> None:
        _run("mount", "-o", "remount,ro", str(self.path))


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


@contextlib.contextmanager
def small_disk(path: Path, size: str = SIZE) -> Iterator[SmallDisk]:
    """Mount a ``size`` tmpfs on ``path`` (made if missing) for the block; unmounted after."""
    path.mkdir(parents=True, exist_ok=True)
    done = _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs on {path} (needs root with CAP_SYS_ADMIN): "
            f"{(done.stderr or done.stdout).strip()}"
        )
    try:
        yield SmallDisk(path)
    finally:
        if _run("umount", str(path)).returncode != 0:
            _run("umount", "-l", str(path))  # a process of the test still holds a file there
