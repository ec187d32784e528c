"""A file written whole or not at all: a scratch file beside it, renamed over it on success.

A reader (another worker on a shared folder, a resumed download) sees the old
file or the new one, never half of one; an error leaves nothing behind.

A disk that is full, read-only or closed to this user fails every write the
same way until someone acts, so ``write_whole`` turns those into one
``ConfigError`` naming the file, the reason and the fix (the setting that
moves the folder), instead of an ``OSError`` traceback, or a retry that
cannot succeed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import ConfigError

DISK_FAULTS = {  # errno -> what it means for the folder; a retry meets the same one
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


@contextlib.contextmanager
def replaced_whole(path: Path) -> Iterator[Path]:
    """Yield a scratch path to write; it becomes ``path`` when the block ends without error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    scratch = Path(name)
    try:
        yield scratch
        os.replace(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)


def disk_fault(exc: BaseException, path: Path | str, what: str, setting: str) -> ConfigError | None:
    """A ``ConfigError`` for ``exc`` when it is a disk fault of ``DISK_FAULTS`` (else None),
    naming ``what`` (``"report"``, ``"live state"``) at ``path`` and the ``setting`` that
    moves its folder."""
    if not isinstance(exc, OSError) or exc.errno not in DISK_FAULTS:
        return None
    fixes = {
        errno.ENOSPC: "free space on that disk",
        errno.EDQUOT: "free space or raise the quota",
        errno.EROFS: "remount it read-write",
        errno.EACCES: f"let user {os.getuid()} write there",
        errno.EPERM: f"let user {os.getuid()} write there",
    }
    return ConfigError(
        f"cannot write {what} {path}: {DISK_FAULTS[exc.errno]} ({exc.strerror}); "
        f"{fixes[exc.errno]}, or set {setting} to a folder on another disk"
    )


def write_whole(
    path: Path,
    data: bytes,
    *,
    what: str = "file",
    setting: str = "BTFARM_STATE_DIR",
    mode: int | None = None,
    sync_folder: bool = False,
) -> None:
    """Write ``data`` to ``path`` whole or not at all (scratch file, fsync, rename).

    A disk fault (full, read-only, no permission) raises ``ConfigError`` naming
    ``path`` (see ``disk_fault``); the old file stays as it was and no scratch
    file is left. ``mode``: the file's permissions; ``sync_folder``: also fsync
    the folder, so the rename itself survives a power cut.
    """
    temp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, path)
        temp = None
        if sync_folder:
            fsync_folder(path.parent)
    except OSError as exc:
        fault = disk_fault(exc, path, what, setting)
        if fault is None:
            raise
        raise fault from exc
    finally:
        if temp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)


def fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename or a new file in it) to the disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
