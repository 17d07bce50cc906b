"""Rigid planar motion versus non-rigid face motion, on real astronaut landmarks."""

from __future__ import annotations

import cv2
import numpy as np

from liveness.types import Face
from temporal.motion import homography_residual, inter_ocular, summarise


def _warp(points: np.ndarray, h: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(points.astype(np.float64)[None], h)[0].astype(np.float32)


def test_a_moved_plane_has_no_residual_and_a_deforming_face_does(astronaut_face: Face) -> None:
    lm = astronaut_face.landmarks
    assert lm is not None
    plane = [lm]
    for t in (0.3, 0.6, 1.0):
        h = np.array([[1.0 + 0.05 * t, 0.02 * t, 12 * t], [-0.03 * t, 1.0, 5 * t], [1e-4 * t, 0.0, 1.0]])
        plane.append(_warp(lm, h))
    rigid = summarise(plane)
    assert rigid.displacement > 0.1
    assert rigid.nonrigidity < 0.01

    mouth_open = lm.copy()
    mouth_open[57:60, 1] += 0.25 * inter_ocular(lm)  # lower lip drops
    mouth_open[8, 1] += 0.2 * inter_ocular(lm)
    mouth_open[36:48, 1] -= 0.05 * inter_ocular(lm)  # brows and eyes move up a little
    face = summarise([lm, mouth_open])
    assert face.nonrigidity > 0.3


def test_no_motion_and_too_few_frames_read_as_zero(astronaut_face: Face) -> None:
    lm = astronaut_face.landmarks
    assert lm is not None
    assert summarise([lm, lm.copy()]).displacement == 0.0
    assert summarise([lm]).frames == 1
    assert summarise([None, lm, None]).nonrigidity == 0.0


def test_homography_residual_is_zero_for_a_projective_copy(astronaut_face: Face) -> None:
    lm = astronaut_face.landmarks
    assert lm is not None
    h = np.array([[0.9, 0.1, 3.0], [0.05, 1.1, -4.0], [2e-4, -1e-4, 1.0]])
    assert homography_residual(lm[17:], _warp(lm[17:], h)) < 1e-2
