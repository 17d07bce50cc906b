"""Frame selection, crops for the LSTM-CNN, and the synthetic print/screen sequences used to train it."""

from __future__ import annotations

import numpy as np
import pytest

from liveness.types import Face
from temporal.sequence import CROP_SIZE, SEQ_LEN, sequence_input, spread_indices
from temporal.sequence_data import Track, windows
from temporal.synth import KINDS, make_sequence


@pytest.mark.parametrize(
    ("available", "count", "expected"),
    [
        (list(range(16)), 8, [0, 2, 4, 6, 9, 11, 13, 15]),
        ([3, 5, 9], 4, [3, 5, 5, 9]),
        ([7], 3, [7, 7, 7]),
        (list(range(10)), 2, [0, 9]),
    ],
)
def test_spread_indices(available: list[int], count: int, expected: list[int]) -> None:
    assert spread_indices(available, count) == expected


def test_spread_indices_needs_frames() -> None:
    with pytest.raises(ValueError):
        spread_indices([], 8)


@pytest.mark.parametrize("kind", KINDS)
def test_synthetic_attacks_keep_the_face_in_its_box(
    astronaut: np.ndarray, astronaut_face: Face, kind: str
) -> None:
    seq = make_sequence(astronaut, astronaut_face.box, SEQ_LEN, kind, np.random.default_rng(0))
    assert len(seq.frames) == len(seq.boxes) == SEQ_LEN and seq.kind == kind
    assert all(f.shape == astronaut.shape and f.dtype == np.uint8 for f in seq.frames)
    first, last = seq.boxes[0], seq.boxes[-1]
    assert abs(first.width - astronaut_face.box.width) < 0.15 * astronaut_face.box.width
    assert first.center != last.center  # the print moves
    x = sequence_input(list(seq.frames), list(seq.boxes))
    assert x.shape == (SEQ_LEN, CROP_SIZE, CROP_SIZE, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    # The crop follows the face: consecutive crops differ far less than the frames' shift would make them.
    assert float(np.abs(x[0] - x[1]).mean()) < 0.12


def test_screen_attacks_change_the_colours_and_unknown_kinds_fail(
    astronaut: np.ndarray, astronaut_face: Face
) -> None:
    rng = np.random.default_rng(1)
    screen = make_sequence(astronaut, astronaut_face.box, 2, "screen", rng)
    assert float(np.abs(screen.frames[0].astype(int) - astronaut.astype(int)).mean()) > 5
    with pytest.raises(ValueError):
        make_sequence(astronaut, astronaut_face.box, 2, "mask", rng)


def test_windows_skip_frames_without_a_face() -> None:
    has_face = np.array([True] * 5 + [False] + [True] * 10)
    track = Track("nuaa", "0001", 1, 0, 16)
    got = windows(track, has_face, stride=4)
    assert got == [[0, 1, 2, 3, 4, 6, 7, 8], [4, 6, 7, 8, 9, 10, 11, 12]]
    assert windows(Track("nuaa", "0001", 1, 0, 5), has_face, stride=4) == []
