"""The CPU memory allocator while timing: memory a call frees stays in the process for the next call.

glibc's malloc serves a block above its mmap threshold (128 KiB at start; it rises to the largest mapped block freed,
up to 32 MiB on 64-bit) with a fresh mapping, and gives the top of its heap back to the kernel once more than its trim
threshold (twice the mmap threshold) lies free there. A forward pass allocates its activations afresh, so some calls
touch new pages (each one a page fault; the kernel zeroes the page) and others reuse old ones, depending on where the
moving thresholds stand, which depends on everything the process allocated before. On the 2-core VM the latency
benchmarks ran on, mobilenet at 224 took 1,100 to 3,500 page faults per call and the medians of twelve `bench` runs
in a row spread from 19.4 to 28.2 ms; with `steady()`, no faults and 18.8 to 22.5 ms.

`steady()` pins both thresholds (``mallopt``, glibc's M_MMAP_THRESHOLD and M_TRIM_THRESHOLD, the knobs behind the
MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ variables): freed blocks stay in the heap and are reused, as with
the jemalloc or tcmalloc that PyTorch's CPU performance guide advises, and as in a server that runs one model again
and again. It changes the whole process from then on (the memory is kept, not returned), so `bench` and `calibrate`
call it only when asked to (their default on the CPU, `--allocator steady`). Where malloc is not glibc's (macOS,
musl), nothing changes and the state says so.

`page_faults()` counts this process's minor page faults (getrusage), for `bench` to report them per call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any

ALLOCATORS = ("steady", "system")
M_TRIM_THRESHOLD = -1  # glibc malloc.h
M_MMAP_THRESHOLD = -3
THRESHOLDS = (1 << 30, 32 << 20)  # the first that mallopt accepts: glibc caps the mmap threshold (32 MiB in old ones)
TRIM = 1 << 30

_state: str | None = None  # what steady() did, once done


@functools.cache
def _glibc() -> Any | None:
    """glibc's mallopt, or None where the C library is another."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        version = libc.gnu_get_libc_version
    except (OSError, AttributeError):
        return None
    version.restype = ctypes.c_char_p
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.mallopt.restype = ctypes.c_int
    return libc


def system() -> str:
    """The allocator as it is (never changed by this module): what goes in a result's environment."""
    if _state is not None:
        return _state
    libc = _glibc()
    if libc is None:
        return "system malloc (not glibc)"
    return f"glibc {libc.gnu_get_libc_version().decode()} malloc, default thresholds (memory returned to the kernel)"


def steady() -> str:
    """Keep freed memory in the process from now on (glibc); the allocator's state, for a result's environment."""
    global _state
    if _state is not None:
        return _state
    libc = _glibc()
    if libc is None:
        return system() + ": left as it is (--allocator steady needs glibc)"
    for threshold in THRESHOLDS:
        if libc.mallopt(M_MMAP_THRESHOLD, threshold) and libc.mallopt(M_TRIM_THRESHOLD, TRIM):
            _state = (f"glibc {libc.gnu_get_libc_version().decode()} malloc, mmap threshold pinned at "
                      f"{threshold >> 20} MiB and trim threshold at {TRIM >> 20} MiB (freed memory kept for the next "
                      "call)")
            return _state
    return system() + ": left as it is (mallopt refused the thresholds)"


def keeps_memory(state: str) -> bool:
    """Whether an allocator state (`steady`'s or `system`'s, as a result's environment holds it) keeps freed memory."""
    return " pinned at " in state


def use(allocator: str) -> str:
    """Apply `allocator` ('steady' or 'system') and return its state."""
    return steady() if allocator == "steady" else system()


def page_faults() -> int | None:
    """Minor page faults of this process so far (None where getrusage is missing)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
