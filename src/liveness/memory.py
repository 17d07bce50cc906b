"""Process-wide C heap settings (glibc `mallopt`), for processes whose allocation pattern needs them.

glibc's defaults suit neither end of this project:
- a service holds client messages, decoded frames and forwarded copies of very different sizes on many
  threads; glibc's dynamic mmap threshold rises to the largest block freed (up to 32 MB), after which such
  blocks land in per-thread heaps, where they fragment: the gateway's resident memory crept up about
  5 MiB/min in a soak while the bytes in use stayed flat. Every service therefore starts with a fixed,
  low threshold and two heaps (liveness.runtime.server.run);
- a numeric test (iqa) allocates and frees a hundred 0.3-1.2 MB maps per request; with a low threshold
  each request page-faults fresh memory, so its model raises the thresholds again when it loads and the
  freed maps are reused (iqa.model.keep_freed_memory).

Where the C library is not glibc, set_malloc changes nothing and returns False, heap_stats returns None.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

# mallopt parameter numbers from glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def _libc_function(name: str) -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    try:
        return getattr(ctypes.CDLL(None), name)  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


def set_malloc(
    *,
    mmap_threshold_bytes: int | None = None,
    trim_threshold_bytes: int | None = None,
    arena_max: int | None = None,
) -> bool:
    """Set the given glibc malloc parameters for the whole process; True when every one was accepted.

    Setting the mmap threshold also turns off glibc's dynamic adjustment of it (and of the trim threshold).
    """
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    wanted = (
        (M_MMAP_THRESHOLD, mmap_threshold_bytes),
        (M_TRIM_THRESHOLD, trim_threshold_bytes),
        (M_ARENA_MAX, arena_max),
    )
    return all(bool(mallopt(param, value)) for param, value in wanted if value is not None)


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


@dataclass(frozen=True, slots=True)
class HeapStats:
    """glibc's mallinfo2 in bytes: heap size, bytes in use and free in it, and mmapped blocks."""

    heap_bytes: int
    in_use_bytes: int
    free_bytes: int
    mmapped_blocks: int
    mmapped_bytes: int


def heap_stats() -> HeapStats | None:
    """The C heap's current figures (None where there is no mallinfo2: not glibc, or glibc < 2.33)."""
    mallinfo2 = _libc_function("mallinfo2")
    if mallinfo2 is None:
        return None
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return HeapStats(info.arena, info.uordblks, info.fordblks, info.hblks, info.hblkhd)
