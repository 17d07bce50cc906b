"""Face geometry for a clip at about the cost of one detection: detect on a keyframe, track the rest.

HOG detection costs about 37 ms on a 640x480 frame here; following the 68 landmarks to the next frame with
pyramidal Lucas-Kanade optical flow (forward and backward) costs about 2-4 ms, and refitting the 68 landmarks
with dlib's shape predictor on the tracked box about 2.4 ms. So a clip is detected on one keyframe (the
middle frame, which the gateway's image tests score) and followed from there in both directions:

1. The previous frame's landmarks are tracked into the next frame (OpenCV `calcOpticalFlowPyrLK`), then back
   again. A point is good when both passes found it and it returns within `max_fb_error` of the face size
   (the forward-backward error of Kalal et al., 2010).
2. A similarity transform fitted on the good points (keyframe landmarks -> tracked points) carries the
   keyframe's detection box into this frame, so the box does not drift with the frame-to-frame steps.
3. The shape predictor refits the 68 landmarks inside that box (`refine`), the same fit detection makes, so
   blinks, expressions and landmark tracks look as they would with detection on every frame.

The track is lost, and the frame is detected afresh, when fewer than `min_good` of the points survive, when
the face's spread (scale) jumps by more than `max_scale_step` between frames, or when the box leaves the
frame. A lost track that detection cannot pick up again gives NO_FACE frames. Each direction may spend
`max_detections` detections that find no face; a detection that finds the face restarts the track and costs
nothing from that allowance, so a clip without a face costs a bounded number of detections, and a sparse clip
(frames a second apart, as `liveness eval` samples a long video) is detected wherever tracking cannot follow,
as each frame would be without tracking.

A tracked frame keeps the face count of the detection it descends from (MULTIPLE_FACES stays so until a
re-detection says otherwise).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from liveness.types import Box, Face, FaceObservation, RGBImage
from liveness.vision import face

Points = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class TrackSettings:
    """How landmarks are followed between frames and when the track counts as lost."""

    window: int = 15  # LK window side in pixels (of the tracking scale)
    # Frames are tracked downscaled so the keyframe's face is about this many pixels wide (never upscaled;
    # 0: full resolution). The predictor refits the landmarks at full resolution, so the track only has to
    # carry the box; at 96 px, LK costs about half what it does on a 640x480 frame with a 180 px face.
    face_px: float = 96.0
    levels: int = 3  # pyramid levels above the frame (displacements up to about window * 2**levels)
    max_fb_error: float = 0.05  # forward-backward error allowed, as a fraction of the face box side
    min_good: float = 0.6  # fraction of the 68 points that must track for the frame to count as tracked
    max_scale_step: float = (
        0.25  # |log| of the spread ratio between two frames beyond which the track is lost
    )
    min_inside: float = 0.6  # fraction of the tracked box that must lie inside the frame
    refine: bool = True  # refit the 68 landmarks with the shape predictor inside the tracked box
    max_detections: int = 3  # re-detections finding no face each direction may spend after losing the face

    def __post_init__(self) -> None:
        if (
            self.window < 5
            or self.levels < 0
            or self.max_fb_error <= 0
            or not 0.0 < self.min_good <= 1.0
            or self.max_scale_step <= 0
            or not 0.0 < self.min_inside <= 1.0
            or self.max_detections < 0
            or self.face_px < 0
        ):
            raise ValueError(f"invalid track settings: {self}")


DEFAULT_TRACK = TrackSettings()


@dataclass(frozen=True, slots=True)
class _State:
    """What a direction carries from one frame to the next."""

    index: int
    landmarks: Points  # (68, 2) in the frame `index`
    count: int
    key_box: Box  # the detection box this track descends from
    key_landmarks: Points  # the landmarks of that detection


class Tracker:
    """Face observations for the frames of one clip: `detect` a keyframe, then `follow` it both ways.

    Safe to use from two threads at once (one per direction): grey frames are computed once each, each
    thread detects with its own dlib detector, and dlib's landmark predictor may be shared
    (liveness.vision.face).
    """

    def __init__(
        self,
        frames: Sequence[RGBImage],
        settings: TrackSettings = DEFAULT_TRACK,
        detector: face.DetectorSettings = face.DEFAULT_DETECTOR,
        no_face: Collection[int] = (),
    ) -> None:
        self._frames = frames
        self.settings = settings
        self.detector = detector
        # Frames a search with `detector` already found no face in (the gateway's keyframe search): a lost
        # track that reaches one does not search it again.
        self._no_face = frozenset(no_face)
        self._grey: dict[int, npt.NDArray[np.uint8]] = {}
        self._lock = threading.Lock()
        self._scale: float | None = None  # of the tracked grey frames, set from the first face followed
        self.detections = 0  # detections run so far (keyframe included)

    def grey(self, index: int) -> npt.NDArray[np.uint8]:
        """Frame `index` in grey at the tracking scale, made once (its two neighbours track against it)."""
        with self._lock:
            found = self._grey.get(index)
        if found is None:
            grey = cv2.cvtColor(self._frames[index], cv2.COLOR_RGB2GRAY)
            scale = self.scale
            if scale < 1.0:
                grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            found = np.asarray(grey, dtype=np.uint8)
            with self._lock:
                self._grey[index] = found
        return found

    @property
    def scale(self) -> float:
        return self._scale or 1.0

    def _set_scale(self, start: FaceObservation) -> None:
        with self._lock:
            if self._scale is None and start.face is not None:
                side = max(start.face.box.width, start.face.box.height, 1.0)
                self._scale = min(1.0, self.settings.face_px / side) if self.settings.face_px else 1.0

    def detect(self, index: int) -> FaceObservation:
        """Full detection (boxes and landmarks) on frame `index`, unless a search found no face there."""
        if index in self._no_face:
            return FaceObservation(frame_index=index, count=0, face=None)
        with self._lock:
            self.detections += 1
        return face.observe(self._frames[index], index, self.detector)

    def follow(
        self, start: FaceObservation, indices: Sequence[int], stop: Callable[[], bool] | None = None
    ) -> Iterator[FaceObservation]:
        """Observations of `indices` (in the order given, moving away from `start`), one at a time.

        `stop` is asked before each frame; when it answers True the iteration ends early.
        """
        self._set_scale(start)
        state = _fresh(start)
        budget = self.settings.max_detections
        for index in indices:
            if stop is not None and stop():
                return
            obs = self._step(state, index) if state is not None else None
            if obs is not None and state is not None and obs.face is not None:
                assert obs.face.landmarks is not None
                state = _State(index, obs.face.landmarks, state.count, state.key_box, state.key_landmarks)
            else:
                if budget <= 0:
                    obs = FaceObservation(frame_index=index, count=0, face=None)
                else:
                    obs = self.detect(index)
                    if obs.face is None:
                        budget -= 1
                state = _fresh(obs)
            yield obs

    def _step(self, state: _State, index: int) -> FaceObservation | None:
        """Track `state` into frame `index`; None when the track is lost there."""
        s = self.settings
        k = self.scale
        prev = (state.landmarks * k).reshape(-1, 1, 2).astype(np.float32)
        g0, g1 = self.grey(state.index), self.grey(index)
        win, criteria = (s.window, s.window), (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)
        cur, st1, _ = cv2.calcOpticalFlowPyrLK(
            g0, g1, prev, None, winSize=win, maxLevel=s.levels, criteria=criteria
        )
        tracked: Points = np.asarray(cur, dtype=np.float32)
        back, st2, _ = cv2.calcOpticalFlowPyrLK(
            g1, g0, tracked, None, winSize=win, maxLevel=s.levels, criteria=criteria
        )
        st1, st2 = np.asarray(st1), np.asarray(st2)
        size = (
            max(state.key_box.width, state.key_box.height)
            * _spread(state.landmarks)
            / max(_spread(state.key_landmarks), 1e-6)
        )
        fb = np.linalg.norm((back - prev).reshape(-1, 2), axis=1) / k  # in full-resolution pixels
        good = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb <= s.max_fb_error * size)
        if good.sum() < max(3, math.ceil(s.min_good * len(good))):
            return None
        cur_full = tracked.reshape(-1, 2) / k
        p0, p1 = state.landmarks[good], cur_full[good]
        step = _spread(p1) / max(_spread(p0), 1e-6)
        if abs(math.log(max(step, 1e-6))) > s.max_scale_step:
            return None
        # Keyframe landmarks -> this frame's points, through the tracked correspondence.
        matrix, _ = cv2.estimateAffinePartial2D(
            state.key_landmarks[good].reshape(-1, 1, 2), p1.reshape(-1, 1, 2), method=cv2.LMEDS
        )
        if matrix is None or not np.isfinite(matrix).all():
            return None
        frame = self._frames[index]
        box = _carry_box(state.key_box, matrix)
        h, w = frame.shape[:2]
        inside = _clip(box, w, h)
        if inside is None or inside.area < s.min_inside * box.area:
            return None
        if s.refine:
            marks = face.landmarks(frame, inside)
        else:
            moved = cv2.transform(state.key_landmarks.reshape(-1, 1, 2), matrix).reshape(-1, 2)
            marks = np.where(good[:, None], cur_full, moved).astype(np.float32)
        return FaceObservation(frame_index=index, count=state.count, face=Face(box=inside, landmarks=marks))


def _fresh(obs: FaceObservation) -> _State | None:
    """A track that starts at a detection; None when it found no face."""
    if obs.face is None or obs.face.landmarks is None or obs.count < 1:
        return None
    landmarks = obs.face.landmarks.astype(np.float32)
    return _State(obs.frame_index, landmarks, obs.count, obs.face.box, landmarks)


def _spread(points: Points) -> float:
    """RMS distance of the points from their centroid."""
    p = points.astype(np.float64)
    return float(np.sqrt(((p - p.mean(axis=0)) ** 2).sum(axis=1).mean()))


def _carry_box(box: Box, matrix: npt.NDArray[np.float64]) -> Box:
    """The axis-aligned box of the same size and centre as `box` after the similarity `matrix`."""
    scale = math.sqrt(abs(float(np.linalg.det(matrix[:, :2]))))
    cx, cy = box.center
    nx, ny = matrix @ np.array([cx, cy, 1.0])
    half_w, half_h = box.width * scale / 2.0, box.height * scale / 2.0
    return Box(float(nx - half_w), float(ny - half_h), float(nx + half_w), float(ny + half_h))


def _clip(box: Box, width: int, height: int) -> Box | None:
    clipped = Box(
        max(0.0, box.left), max(0.0, box.top), min(float(width), box.right), min(float(height), box.bottom)
    )
    return clipped if clipped.width > 1 and clipped.height > 1 else None


def order_from(keyframe: int, indices: Sequence[int]) -> tuple[list[int], list[int]]:
    """`indices` after and before `keyframe`, each in the order a track walks them (away from it)."""
    ordered = sorted(set(indices))
    return [i for i in ordered if i > keyframe], [i for i in reversed(ordered) if i < keyframe]


def track(
    frames: Sequence[RGBImage],
    indices: Sequence[int] | None = None,
    keyframe: int | None = None,
    settings: TrackSettings = DEFAULT_TRACK,
    detector: face.DetectorSettings = face.DEFAULT_DETECTOR,
) -> list[FaceObservation]:
    """One observation per index of `indices` (default: every frame), in index order.

    Detection runs on `keyframe` (default: the middle of `indices`); every other frame is tracked from it.
    """
    wanted = sorted(set(range(len(frames)) if indices is None else indices))
    if not wanted:
        return []
    if keyframe is None:
        keyframe = wanted[len(wanted) // 2]
    if not 0 <= keyframe < len(frames):
        raise ValueError(f"keyframe {keyframe} is not a frame of a {len(frames)}-frame clip")
    tracker = Tracker(frames, settings, detector)
    start = tracker.detect(keyframe)
    after, before = order_from(keyframe, wanted)
    found = {keyframe: start}
    for obs in (*tracker.follow(start, after), *tracker.follow(start, before)):
        found[obs.frame_index] = obs
    return [found[i] for i in wanted]
