"""Fixed glibc malloc thresholds for worker processes.

glibc serves a large allocation (128 KiB and up, at first) with a fresh
``mmap`` and hands it back to the kernel on ``free``, raising that threshold
only as such blocks are freed. A new worker process therefore page-faults on
most numpy arrays of a frame (one column of a month of 1-minute candles is
345 KB) until its heap has grown: measured on grid53, a fresh process's
first sweep took 28,000 page faults and 124 ms, its third 5,000 and 76 ms;
with the thresholds fixed, 2,900 and 70 ms from the first. Every new pool
child (and every child replaced after ``worker_max_memory_per_child``)
started at that slower pace.

Measured again on 2026-12-03, 20 grid53 variants of a fresh process: with
candles from a DataFrame (ccxt and DataFrame exchanges: pandas has grown the
heap) 2,350 faults adaptive, 630 fixed; with candles read from Parquet or
CSV files (by pyarrow, into memory of its own) ~2,400 either way.

The values are those glibc's own adjustment tends to: mmap above 32 MiB (its
ceiling for that adjustment), keep up to 64 MiB of free heap before trimming.
A process started with ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``
or ``GLIBC_TUNABLES`` set keeps what it was given.
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def fix_malloc_thresholds() -> bool:
    """Set the thresholds in this process (children forked later inherit them);
    False when the C library has no ``mallopt`` that accepts them (not glibc)
    or the environment already sets malloc's thresholds."""
    if any(os.environ.get(name) for name in USER_SETTINGS):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this interpreter runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
