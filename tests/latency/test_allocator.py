"""The CPU allocator while timing: `--allocator steady` keeps freed memory in the process, so a call that allocates
the same blocks again touches no new page; the kernel's own count of page faults is the proof."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from shufflecalc.latency import allocator

GLIBC = allocator._glibc() is not None and allocator.page_faults() is not None

# Allocate and free a 40 MiB block (above glibc's largest dynamic mmap threshold, 32 MiB), touching every page, five
# times; print the page faults of the last three rounds.
SCRIPT = textwrap.dedent("""
    import sys
    from shufflecalc.latency import allocator
    print(allocator.use(sys.argv[1]))
    faults = []
    for _ in range(5):
        before = allocator.page_faults()
        block = bytearray(40 << 20)  # malloc, then zeroed: every page touched
        del block
        faults.append(allocator.page_faults() - before)
    print(sum(faults[2:]))
""")


def faults_with(choice: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", SCRIPT, choice], capture_output=True, text=True, check=True).stdout
    state, faults = out.splitlines()
    return state, int(faults)


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc and getrusage only")
def test_steady_allocator_faults_no_page_where_the_system_one_faults_every_page() -> None:
    state, faults = faults_with("system")
    assert "default thresholds" in state
    assert faults >= 3 * (40 << 20) // 4096 * 0.9  # a fresh mapping each time: every 4 KiB page faulted in again
    state, faults = faults_with("steady")
    assert "pinned at 1024 MiB" in state
    assert faults < 100  # the freed block stays in the heap and is reused


def test_page_fault_warning() -> None:
    from shufflecalc.latency.timing import page_fault_warning

    assert page_fault_warning(0.0, "glibc 2.36 malloc, default thresholds") is None
    assert page_fault_warning(None, "system malloc (not glibc)") is None
    warning = page_fault_warning(2500.0, "glibc 2.36 malloc, default thresholds (memory returned to the kernel)")
    assert warning is not None and warning.startswith("2500 page faults per call") and "--allocator steady" in warning
    pinned = "glibc 2.36 malloc, mmap threshold pinned at 1024 MiB and trim threshold at 1024 MiB"
    assert "--allocator" not in (page_fault_warning(3.0, pinned) or "")


def test_an_unknown_allocator_is_a_bad_option() -> None:
    from shufflecalc.errors import ShufflecalcError
    from shufflecalc.latency.bench import BenchOptions

    with pytest.raises(ShufflecalcError, match="--allocator 'jemalloc': expected one of steady, system"):
        BenchOptions(allocator="jemalloc").checked()
