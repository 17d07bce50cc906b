"""Which frames of a clip to use when a consumer takes fewer than the clip has."""

from __future__ import annotations

import numpy as np


def evenly_spaced(n: int, k: int) -> list[int]:
    """k indexes spread evenly over range(n), first and last included (all of them when k >= n)."""
    if k >= n:
        return list(range(n))
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, num=k)})
