"""Process-level runtime tuning for the entry points (never imported by library code)."""

from __future__ import annotations

import ctypes
import logging
import platform

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def tune_allocator() -> bool:
    """Keep freed large blocks in the process instead of returning them to the OS.

    glibc hands big tensors back to the kernel on free and page-faults them in again on the next
    step; on CPU this costs ~2x in the FFT spatial model and ~10% in the detector. Linux/glibc
    only; a no-op elsewhere. Returns whether it was applied.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, 2**30) == 1
    except OSError:
        return False
    log.debug("glibc allocator tuned: %s", ok)
    return ok
