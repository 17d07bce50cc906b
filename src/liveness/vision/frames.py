"""Which frames of a clip to use: one rule for serving, sampling videos and training."""

from __future__ import annotations

import numpy as np


def evenly_spaced(n: int, k: int, *, repeat: bool = False) -> list[int]:
    """`k` indexes spread evenly over range(n), in order, first and last included (rounded half to even).

    When k >= n every index comes back once, or, with `repeat`, exactly k indexes with some repeated (a
    fixed-length sequence from a shorter clip). Below n the indexes never repeat.
    """
    if n < 0 or k < 0:
        raise ValueError(f"need n >= 0 and k >= 0, got n={n}, k={k}")
    if n == 0 or k == 0:
        return []
    if k >= n and not repeat:
        return list(range(n))
    return [int(i) for i in np.linspace(0, n - 1, num=k).round()]
