"""liveness.memory: glibc malloc settings take effect (skipped where the C library is not glibc)."""

from __future__ import annotations

import multiprocessing
import resource
from collections.abc import Callable

import numpy as np
import pytest

from liveness import memory

pytestmark = pytest.mark.skipif(memory.heap_stats() is None, reason="needs glibc >= 2.33 (mallinfo2)")


def _mmapped_blocks_of_an_array(size_bytes: int) -> int:
    """How many mmapped blocks allocating a `size_bytes` array adds (0: it went into the heap)."""
    before = memory.heap_stats()
    block = np.ones(size_bytes, np.uint8)  # noqa: F841 - kept alive while measuring
    after = memory.heap_stats()
    assert before is not None and after is not None
    return after.mmapped_blocks - before.mmapped_blocks


def _mmapped_blocks_for_a_1_mib_array(threshold_bytes: int | None, after_a_4_mib_block: bool) -> int:
    if after_a_4_mib_block:
        # Freeing a mmapped block raises glibc's dynamic mmap threshold to its size.
        del_me = np.ones(4 * 1024 * 1024, np.uint8)
        del del_me
    if threshold_bytes is not None:
        assert memory.set_malloc(mmap_threshold_bytes=threshold_bytes, arena_max=2)
    return _mmapped_blocks_of_an_array(1024 * 1024)


def _in_child(func: Callable[..., int], *args: object) -> int:
    # A fresh process: the settings are process-wide and must not leak into the test session.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(func, args)


def test_by_default_a_freed_big_block_moves_later_ones_into_the_heap() -> None:
    """What the gateway's setting is for: glibc's own threshold rises to the largest block freed."""
    assert _in_child(_mmapped_blocks_for_a_1_mib_array, None, True) == 0


def test_a_fixed_low_mmap_threshold_keeps_mapping_big_blocks() -> None:
    assert _in_child(_mmapped_blocks_for_a_1_mib_array, 128 * 1024, True) == 1


def test_a_high_mmap_threshold_keeps_big_blocks_in_the_heap() -> None:
    assert _in_child(_mmapped_blocks_for_a_1_mib_array, 32 * 1024 * 1024, False) == 0


def _faults_of_a_second_churn(policy: str) -> int:
    """Minor page faults while 8 x 1.2 MB maps are written and freed 5 times, after the same churn once."""
    if policy == "service":
        assert memory.service_policy()
    else:  # the fixed low threshold the services used before: every big block mapped afresh
        assert memory.set_malloc(mmap_threshold_bytes=128 * 1024, arena_max=2)

    def churn() -> None:
        for _ in range(5):
            maps = [np.full((480, 640), i, np.float32) for i in range(8)]
            del maps

    churn()  # the heap grows once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    churn()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_the_service_policy_reuses_freed_blocks_instead_of_faulting_fresh_pages() -> None:
    """What a service process runs with (liveness.runtime.server.run): freed maps are reused. Fresh memory
    faults once per 4 kB page: 5 x 8 x 300 = 12,000 faults, as the low threshold shows."""
    assert _in_child(_faults_of_a_second_churn, "service") < 1000
    assert _in_child(_faults_of_a_second_churn, "low") > 10000


def _mmapped_blocks_under_the_service_policy(size_bytes: int) -> int:
    assert memory.service_policy()
    freed = np.ones(size_bytes, np.uint8)  # freed first: the threshold must stay fixed, not rise to it
    del freed
    return _mmapped_blocks_of_an_array(size_bytes)


def test_the_service_policy_still_maps_blocks_over_its_limit() -> None:
    """A 640x480 frame (0.9 MB) stays in the heap; a block over KEEP_HEAP_BYTES (a 1080p frame, 6.2 MB) is
    mapped and returned when freed, so a rare large request leaves no hole in the heap."""
    assert _in_child(_mmapped_blocks_under_the_service_policy, 640 * 480 * 3) == 0
    assert _in_child(_mmapped_blocks_under_the_service_policy, 1920 * 1080 * 3) == 1


def test_heap_stats_add_up() -> None:
    stats = memory.heap_stats()
    assert stats is not None
    assert stats.in_use_bytes + stats.free_bytes == stats.heap_bytes
