"""The routing plan, table-driven: which test gets which frames and the challenge, which the plan answers for,
and which frames the face search covers."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from gateway.routing import Candidate, plan
from liveness.types import Action, Status, TestInfo


def _info(
    name: str, image: bool, clip: bool, min_frames: int = 1, max_frames: int = 1, face: bool = True
) -> TestInfo:
    return TestInfo(name, f"{name}-1", image, clip, min_frames, max_frames, needs_face=face)


# Shaped like the real tests: one image test without faces, one with; a clip test with faces, one without.
IQA = Candidate("iqa", _info("iqa", True, False, face=False))
CNN = Candidate("cnn2d", _info("cnn2d", True, False))
TEMPORAL = Candidate("temporal", _info("temporal", False, True, 8, 16))
VOXEL = Candidate("voxel3d", _info("voxel3d", False, True, 4, 4, face=False))
BOTH = Candidate("both", _info("both", True, True, 2, 5))  # takes an image or a clip of 2+ frames
DOWN = Candidate("down", None, "unavailable: connection refused")
ALL = (IQA, CNN, TEMPORAL, VOXEL, BOTH, DOWN)


@dataclass(frozen=True)
class Row:
    tests: tuple[Candidate, ...]
    frames: int
    is_clip: bool
    flash: bool
    calls: dict[str, tuple[tuple[int, ...], bool]]  # test -> (frames, as a clip)
    answered: dict[str, tuple[Status, str]]  # test -> (status, detail)
    face_frames: tuple[int, ...]
    search: tuple[int, ...]
    keyframe: int | None


NA, UNAVAILABLE = Status.NOT_APPLICABLE, Status.UNAVAILABLE
CANNOT = (UNAVAILABLE, "cannot describe test (unavailable: connection refused)")

ROWS = {
    "an image goes to image tests, the chosen frame is its only one": Row(
        ALL,
        1,
        False,
        False,
        {"iqa": ((0,), False), "cnn2d": ((0,), False), "both": ((0,), False)},
        {
            "temporal": (NA, "temporal needs a clip of at least 8 frames, got a single image"),
            "voxel3d": (NA, "voxel3d needs a clip of at least 4 frames, got a single image"),
            "down": CANNOT,
        },
        (0,),
        (0,),
        0,
    ),
    "a long clip: clip tests get evenly spaced frames, image tests the middle one": Row(
        ALL,
        20,
        True,
        False,
        {
            "iqa": ((10,), False),
            "cnn2d": ((10,), False),
            "temporal": ((0, 1, 3, 4, 5, 6, 8, 9, 10, 11, 13, 14, 15, 16, 18, 19), True),
            "voxel3d": ((0, 6, 13, 19), True),
            "both": ((0, 5, 10, 14, 19), True),
        },
        {"down": CANNOT},
        # faces for cnn2d, temporal and both (iqa and voxel3d need none)
        (0, 1, 3, 4, 5, 6, 8, 9, 10, 11, 13, 14, 15, 16, 18, 19),
        (0, 1, 3, 4, 5, 6, 8, 9, 10, 11, 13, 14, 15, 16, 18, 19),
        10,
    ),
    "a clip shorter than a test's minimum: that test does not apply": Row(
        ALL,
        5,
        True,
        False,
        {
            "iqa": ((2,), False),
            "cnn2d": ((2,), False),
            "voxel3d": ((0, 1, 3, 4), True),
            "both": ((0, 1, 2, 3, 4), True),
        },
        {
            "temporal": (NA, "temporal needs a clip of at least 8 frames, got a clip of 5 frames"),
            "down": CANNOT,
        },
        (0, 1, 2, 3, 4),
        (0, 1, 2, 3, 4),
        2,
    ),
    "a one-frame clip is still a clip; a test that takes images gets its frame as one": Row(
        (BOTH, VOXEL),
        1,
        True,
        False,
        {"both": ((0,), False)},
        {"voxel3d": (NA, "voxel3d needs a clip of at least 4 frames, got a clip of 1 frames")},
        (0,),
        (0,),
        0,
    ),
    "no test needs a face: no face search": Row(
        (IQA, VOXEL),
        9,
        True,
        False,
        {"iqa": ((4,), False), "voxel3d": ((0, 3, 5, 8), True)},
        {},
        (),
        (),
        None,
    ),
    "no test needs a face but the flash check does: the chosen frame is searched": Row(
        (IQA, VOXEL),
        9,
        True,
        True,
        {"iqa": ((4,), False), "voxel3d": ((0, 3, 5, 8), True)},
        {},
        (),
        (4,),
        4,
    ),
    "the keyframe is the searched frame nearest the chosen one (the first of a tie)": Row(
        (Candidate("clip", _info("clip", False, True, 2, 4)),),
        9,
        True,
        True,
        {"clip": ((0, 3, 5, 8), True)},
        {},
        (0, 3, 5, 8),
        (0, 3, 5, 8),
        3,
    ),
    "a test that takes at most 0 frames still gets one": Row(
        (Candidate("zero", _info("zero", False, True, 1, 0)),),
        6,
        True,
        False,
        {"zero": ((0,), True)},
        {},
        (0,),
        (0,),
        0,
    ),
    "no test described: nothing to call": Row((DOWN,), 3, True, True, {}, {"down": CANNOT}, (), (1,), 1),
}


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_plan(row: Row) -> None:
    challenge = (Action.BLINK, Action.TURN_LEFT)
    got = plan(row.tests, row.frames, row.is_clip, challenge, flash=row.flash)
    assert got.chosen == row.frames // 2
    assert {c.test: (c.frames, c.as_clip) for c in got.calls} == row.calls
    assert {a.test: (a.status, a.detail) for a in got.answered} == row.answered
    assert (got.face_frames, got.search_frames, got.keyframe) == (row.face_frames, row.search, row.keyframe)
    assert got.challenge == challenge  # every call carries it
    # Every test is either called or answered for, once, in the order given.
    order = [c.test for c in got.calls] + [a.test for a in got.answered]
    assert sorted(order) == sorted(t.name for t in row.tests)
    assert [c.test for c in got.calls] == [t.name for t in row.tests if t.name in row.calls]


def test_calls_carry_what_the_fan_out_needs() -> None:
    got = plan((TEMPORAL, IQA, CNN), 10, True)
    temporal, iqa, cnn = got.calls
    assert (temporal.version, temporal.needs_face, temporal.min_frames) == ("temporal-1", True, 8)
    assert (iqa.version, iqa.needs_face, iqa.min_frames) == ("iqa-1", False, 1)
    assert (cnn.needs_face, cnn.min_frames) == (True, 1)  # an image call needs its one frame
    assert got.challenge == ()
    # the plan's answers name the test's version when it is known
    assert [(a.test, a.version) for a in plan((TEMPORAL, DOWN), 1, False).answered] == [
        ("temporal", "temporal-1"),
        ("down", ""),
    ]


def test_landmarks_are_fitted_only_where_a_test_reads_them() -> None:
    box_only = Candidate("texture", replace(_info("texture", True, False), face_box_only=True))
    # An image whose face tests read boxes only: no landmarks fitted, none sent.
    got = plan((IQA, box_only), 1, False)
    assert not got.landmarks and [c.landmarks for c in got.calls] == [True, False]
    # One image test that reads landmarks (the default) is enough to fit them; the box-only call still
    # gets boxes alone.
    got = plan((IQA, box_only, CNN), 1, False)
    assert got.landmarks and {c.test: c.landmarks for c in got.calls}["texture"] is False
    # A clip always fits them: tracking follows the landmarks from the keyframe.
    clip_box_only = Candidate("boxclip", replace(_info("boxclip", False, True, 2, 4), face_box_only=True))
    assert plan((clip_box_only,), 6, True).landmarks
    # A box-only test that reads a clip's landmarks (texture picks frontal frames) gets them with a clip,
    # and boxes alone with an image.
    frontal = Candidate(
        "texture", replace(_info("texture", True, True, 1, 4), face_box_only=True, clip_landmarks=True)
    )
    assert [c.landmarks for c in plan((frontal, clip_box_only), 6, True).calls] == [True, False]
    got = plan((IQA, frontal), 1, False)
    assert not got.landmarks and [c.landmarks for c in got.calls] == [True, False]
    # A test that needs no face asks for no landmarks either.
    assert not plan((IQA,), 1, False).landmarks
