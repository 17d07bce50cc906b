"""liveness.vision.frames.evenly_spaced: the one frame-picking rule (serving, video sampling, training)."""

from __future__ import annotations

import numpy as np
import pytest

from liveness.vision.frames import evenly_spaced


@pytest.mark.parametrize(
    ("n", "k", "expected"),
    [
        (10, 3, [0, 4, 9]),  # 4.5 rounds half to even
        (9, 3, [0, 4, 8]),
        (5, 1, [0]),
        (3, 5, [0, 1, 2]),
        (4, 4, [0, 1, 2, 3]),
        (0, 3, []),
        (3, 0, []),
    ],
)
def test_evenly_spaced(n: int, k: int, expected: list[int]) -> None:
    assert evenly_spaced(n, k) == expected


def test_repeat_gives_exactly_k_in_order() -> None:
    assert evenly_spaced(3, 8, repeat=True) == [0, 0, 1, 1, 1, 1, 2, 2]
    assert evenly_spaced(10, 3, repeat=True) == evenly_spaced(10, 3)


def test_same_indexes_as_the_copies_it_replaces() -> None:
    """The rule the runtime, the video reader, iqa, temporal and voxel3d each wrote out before."""
    for n in range(1, 70):
        for k in range(1, 40):
            dedup = sorted({int(round(x)) for x in np.linspace(0, n - 1, num=min(k, n))})
            assert evenly_spaced(n, k) == dedup, (n, k)
            positions = np.linspace(0, n - 1, num=k).round().astype(int).tolist()
            assert evenly_spaced(n, k, repeat=True) == positions, (n, k)


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="n=-1"):
        evenly_spaced(-1, 2)
