"""Rigid planar motion versus non-rigid face motion, from the landmark tracks.

A photo or a screen is a plane: however it is moved, one homography maps the 68 landmarks of one frame onto
those of another, up to the landmark detector's jitter. A real face is a 3-D, deforming surface: head turns
(parallax between nose and cheeks), blinks and mouth movement leave residuals no homography explains.
The residual is measured in units of the inter-ocular distance (IOD) so it does not depend on face size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from liveness.vision.face import LEFT_EYE, RIGHT_EYE

# Landmarks used for the fit: every point but the jaw outline (0-16), whose dlib fit slides along the
# cheek contour and adds jitter without telling plane from face.
_FIT = np.arange(17, 68)


@dataclass(frozen=True, slots=True)
class MotionSummary:
    """How much the face moved and how much of it a single plane cannot explain (both in IOD units)."""

    displacement: float  # RMS landmark displacement from the reference frame, largest over the clip
    residual: float  # RMS homography residual of the frame that moved most
    frames: int  # frames with landmarks that entered the fit

    @property
    def nonrigidity(self) -> float:
        """residual / displacement: about 0 for a moved plane, larger for a face; 0 when nothing moved."""
        return self.residual / self.displacement if self.displacement > 0 else 0.0


def inter_ocular(landmarks: npt.NDArray[np.float32]) -> float:
    """Distance between the two eye centres, in pixels."""
    return float(np.linalg.norm(landmarks[LEFT_EYE].mean(0) - landmarks[RIGHT_EYE].mean(0)))


def homography_residual(src: npt.NDArray[np.float32], dst: npt.NDArray[np.float32]) -> float:
    """RMS distance (pixels) between `dst` and `src` mapped by the least-squares homography src -> dst."""
    h, _ = cv2.findHomography(src.astype(np.float64), dst.astype(np.float64), 0)
    if h is None:
        return float("inf")
    mapped = cv2.perspectiveTransform(src.astype(np.float64)[None], h)[0]
    return float(np.sqrt(np.mean(np.sum((mapped - dst) ** 2, axis=1))))


def summarise(landmarks: Sequence[npt.NDArray[np.float32] | None]) -> MotionSummary:
    """Compare every frame's landmarks with the first frame that has landmarks."""
    tracks = [lm for lm in landmarks if lm is not None and np.all(np.isfinite(lm))]
    if len(tracks) < 2:
        return MotionSummary(0.0, 0.0, len(tracks))
    ref = tracks[0][_FIT]
    iod = inter_ocular(tracks[0])
    if iod <= 0:
        return MotionSummary(0.0, 0.0, len(tracks))
    best_disp, best_res = 0.0, 0.0
    for lm in tracks[1:]:
        cur = lm[_FIT]
        disp = float(np.sqrt(np.mean(np.sum((cur - ref) ** 2, axis=1)))) / iod
        res = homography_residual(ref, cur) / iod
        if disp > best_disp:
            best_disp, best_res = disp, res
    return MotionSummary(best_disp, best_res, len(tracks))
