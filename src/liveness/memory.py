"""Process-wide C heap settings (glibc `mallopt`): the services' policy.

glibc's defaults suit no process of this project: its dynamic mmap threshold rises to the largest block
freed (up to 32 MB), and every thread that allocates under contention gets a heap of its own (up to 8 per
core). A service holds client messages, decoded frames and forwarded copies of very different sizes on many
threads; with the defaults those blocks landed in per-thread heaps and fragmented: the gateway's resident
memory crept up about 5 MiB/min in a soak while the bytes in use stayed flat.

Every service process therefore starts with `service_policy()` (liveness.runtime.server.run): two heaps for
all threads, and fixed thresholds under which freed blocks up to 4 MiB stay in the heap for reuse. A request
allocates and frees the same large blocks again and again (decoded images and 640x480 frames of 0.8-0.9 MB,
HOG pyramids, LBP and feature maps: iqa about a hundred 0.3-1.2 MB maps an image); returned to the kernel
at once (the fixed 128 KiB threshold the services used before), each request page-faulted fresh zeroed
memory: about 5,000 faults (20 ms of system time) in texture and 6,000 (47 ms) in the gateway for a
24-frame clip, 200-270 for an image in cnn2d, texture and the gateway. Blocks over 4 MiB (a 1080p frame,
a stack of frames) are still mapped and returned when freed, so a rare large request leaves no hole in the
heap. The price is the heap's peak staying resident: up to 64 MiB free at its top before it is trimmed.

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


KEEP_HEAP_BYTES = 4 * 1024 * 1024
"""Freed blocks up to this size stay in the C heap for reuse; larger ones are mapped and unmapped."""
TRIM_BYTES = 64 * 1024 * 1024
"""Free memory at the top of a heap beyond this is returned to the kernel."""
SERVICE_ARENAS = 2
"""Heaps shared by all threads of a service process."""


def keep_freed_memory(limit_bytes: int = KEEP_HEAP_BYTES) -> bool:
    """Make glibc keep freed blocks up to `limit_bytes` for reuse instead of returning them to the kernel
    (mmap threshold `limit_bytes`, trim threshold TRIM_BYTES); for code that runs a model in process the way
    a service does (training, benchmarks). Returns False where the C library has no mallopt."""
    return set_malloc(mmap_threshold_bytes=limit_bytes, trim_threshold_bytes=TRIM_BYTES)


def service_policy() -> bool:
    """The C heap policy of every service process (see the module's docstring): SERVICE_ARENAS heaps, freed
    blocks up to KEEP_HEAP_BYTES kept for reuse. Returns False where the C library has no mallopt."""
    arenas = set_malloc(arena_max=SERVICE_ARENAS)
    return keep_freed_memory() and arenas


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
