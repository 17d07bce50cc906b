"""Training re-crops from cached context crops must show the network what serving shows it."""

from __future__ import annotations

import numpy as np
import pytest

from cnn2d.augment import (
    AugmentSettings,
    augment_face,
    frame_cut,
    grey,
    moire,
    synthetic_attack,
    warm_shift,
)
from cnn2d.data import CONTEXT_SCALE, CONTEXT_SIZE, context_box, cut_like, framed_box
from cnn2d.model import CROP_SIZE, PAD, SCALES, preprocess
from liveness.types import Box
from liveness.vision import face as facelib


@pytest.mark.parametrize("box", [Box(180.0, 150.0, 330.0, 310.0), Box(10.0, 5.0, 150.0, 160.0)])
def test_crops_from_the_context_match_crops_from_the_frame(astronaut: np.ndarray, box: Box) -> None:
    """Including a box at the frame's corner, where both must show the same out-of-frame border."""
    context = facelib.crop(astronaut, box, CONTEXT_SCALE, CONTEXT_SIZE, PAD)
    from_context = np.stack(facelib.crops(context, context_box(box), SCALES, CROP_SIZE, PAD)).astype(
        np.float32
    )
    from_frame = preprocess(astronaut, box)
    assert np.abs(from_context - from_frame).mean() < 4.0  # resampled twice vs once, grey levels


def test_framed_box_inverts_cut_like() -> None:
    frame = np.zeros((1080, 1920, 3), np.uint8)
    box = Box(900.0, 400.0, 1100.0, 600.0)
    geometry = (0.86, 1.33, 0.52, 0.57)
    cut = cut_like(frame, box, geometry)
    assert cut.shape[:2] == (round(1.33 * 200), round(0.86 * 200))
    found = framed_box(cut, geometry)
    assert found.width == pytest.approx(200.0, abs=1.0)
    # back in frame coordinates, the box lands where it was
    left = box.center[0] - 0.52 * 0.86 * 200
    assert found.left + round(left) == pytest.approx(box.left, abs=1.0)


def test_augment_is_seeded_and_keeps_the_input_contract(astronaut: np.ndarray) -> None:
    box = Box(180.0, 150.0, 330.0, 310.0)
    context = facelib.crop(astronaut, box, CONTEXT_SCALE, CONTEXT_SIZE)
    cbox = context_box(box)
    a, live_a = augment_face(context, cbox, True, np.random.default_rng(5), SCALES, CROP_SIZE)
    b, live_b = augment_face(context, cbox, True, np.random.default_rng(5), SCALES, CROP_SIZE)
    assert a.shape == (len(SCALES), CROP_SIZE, CROP_SIZE, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert live_a == live_b


def test_synthetic_attacks_are_labelled_spoof_and_change_the_pixels(astronaut: np.ndarray) -> None:
    box = Box(180.0, 150.0, 330.0, 310.0)
    context = facelib.crop(astronaut, box, CONTEXT_SCALE, CONTEXT_SIZE)
    always = AugmentSettings(synthetic_attack=1.0, colour=0, blur=0, jpeg=0, noise=0, flip=0, shift=0, zoom=0)
    x, live = augment_face(
        context, context_box(box), True, np.random.default_rng(0), SCALES, CROP_SIZE, always
    )
    assert live is False
    clean = preprocess(context, context_box(box))
    assert np.abs(x.astype(np.float32) - clean).mean() > 2.0
    # a spoof stays a spoof whatever happens to it
    _, still_spoof = augment_face(
        context, context_box(box), False, np.random.default_rng(0), SCALES, CROP_SIZE
    )
    assert still_spoof is False
    out = synthetic_attack(context, context_box(box), np.random.default_rng(1))
    assert out.shape == context.shape and out.dtype == np.uint8


def test_synthetic_attack_applies_only_cues_with_non_zero_odds(astronaut: np.ndarray) -> None:
    box = Box(180.0, 150.0, 330.0, 310.0)
    context = facelib.crop(astronaut, box, CONTEXT_SCALE, CONTEXT_SIZE)
    for seed in range(5):  # moire only: the result is the moire of the same random draws, nothing else
        got = synthetic_attack(context, context_box(box), np.random.default_rng(seed), (1.0, 0.0, 0.0))
        rng = np.random.default_rng(seed)
        rng.random(3)  # the cue draw
        np.testing.assert_array_equal(got, moire(context, rng))
    with pytest.raises(ValueError, match="cue"):
        synthetic_attack(context, context_box(box), np.random.default_rng(0), (0.0, 0.0, 0.0))


def test_counter_cast_warms_prints_and_cools_live_faces(astronaut: np.ndarray) -> None:
    box = Box(180.0, 150.0, 330.0, 310.0)
    context = facelib.crop(astronaut, box, CONTEXT_SCALE, CONTEXT_SIZE)
    only_cast = AugmentSettings(
        counter_cast=1.0,
        cast_strength=0.3,
        colour=0,
        blur=0,
        jpeg=0,
        noise=0,
        flip=0,
        shift=0,
        zoom=0,
        frame_cut=0,
    )
    clean = preprocess(context, context_box(box))

    def red_minus_blue(x: np.ndarray) -> float:
        return float(x[..., 0].astype(np.float32).mean() - x[..., 2].astype(np.float32).mean())

    for seed in range(3):
        args = (context, context_box(box))
        spoof, _ = augment_face(*args, False, np.random.default_rng(seed), SCALES, CROP_SIZE, only_cast)
        live, _ = augment_face(*args, True, np.random.default_rng(seed), SCALES, CROP_SIZE, only_cast)
        assert red_minus_blue(spoof) > red_minus_blue(clean) > red_minus_blue(live)
    assert red_minus_blue(warm_shift(context, 0.0)) == red_minus_blue(context)


def test_frame_cut_fills_beyond_an_edge_as_crop_pads_and_keeps_the_face(astronaut: np.ndarray) -> None:
    box = Box(180.0, 150.0, 330.0, 310.0)
    context = facelib.crop(astronaut, box, CONTEXT_SCALE, CONTEXT_SIZE, PAD)
    cb = context_box(box)
    side = max(cb.width, cb.height)
    for seed in range(5):
        out = frame_cut(context, cb, np.random.default_rng(seed), (0.5, 0.6))
        assert out.shape == context.shape and out.dtype == np.uint8
        # the face box (0.5 box sides from its centre) is never touched; something beyond it is
        inner = (slice(int(cb.top) + 1, int(cb.bottom) - 1), slice(int(cb.left) + 1, int(cb.right) - 1))
        np.testing.assert_array_equal(out[inner], context[inner])
        changed = np.any(out != context, axis=-1)
        assert changed.any()
        rows, cols = np.nonzero(changed)
        dist = np.maximum(np.abs(cols + 0.5 - cb.center[0]), np.abs(rows + 0.5 - cb.center[1]))
        assert dist.min() >= 0.5 * side - 1
    # on in the recipe, for live and spoof faces alike: the label never changes (synthetic replays, which
    # do change it, off here)
    settings = AugmentSettings(frame_cut=1.0, synthetic_attack=0.0)
    for live in (True, False):
        _, label = augment_face(context, cb, live, np.random.default_rng(0), SCALES, CROP_SIZE, settings)
        assert label is live


def test_grey_drops_colour(astronaut: np.ndarray) -> None:
    out = grey(astronaut)
    assert out.shape == astronaut.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
