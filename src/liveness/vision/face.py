"""Face detection, landmarks and square crops: the one implementation the gateway and every test use.

Detection is dlib's HOG detector (through face_recognition) on a copy downscaled so its longer side is at
most `detect_max_side`: HOG costs about 100 ms on a full 640x480 frame on two cores, and liveness faces are
large. The 68 landmarks are then fitted on the full-resolution frame (about 2 ms).

Coarse first: HOG scans an image pyramid (each level 5/6 of the one above), and most of its cost lies in the
finest levels, which only find the smallest faces (the upsampled level alone is about a third). So the search
first scans only the levels from `coarse_level` down (the same scales, without upsampling: about half the
pixels at level 2). A face found on the coarse scan's finest level is fitted again by the whole pyramid in a
window around it; the whole frame is scanned at every level only when the coarse scan finds nothing (faces
under about 16 % of the longer side, or none). samples/astronaut.jpg: 16 instead of 46 ms; 655 NUAA and
replay-more images: 15 instead of 28 ms on average.

Faces where users put them: HOG finds no face whose box touches the image border, so a tight face crop (what
many backends send) is searched again with a border of `pad` x its longer side on every side, and the boxes
are mapped back. `observe_upright` also tries the image turned by 90 degrees either way (a phone frame held
sideways) and says which turn showed the face.
"""

from __future__ import annotations

import math
import pickle
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from liveness.errors import InvalidInput
from liveness.types import Box, Face, FaceObservation, Media, RGBImage, Status, TestResult
from liveness.vision.frames import evenly_spaced

N_LANDMARKS = 68
# dlib's 68-point layout (iBUG 300-W), as index ranges.
LEFT_EYE = slice(36, 42)  # the subject's right eye, on the image's left
RIGHT_EYE = slice(42, 48)
MOUTH = slice(48, 68)
JAW = slice(0, 17)
NOSE = slice(27, 36)


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    """How faces are searched for; the defaults suit 640x480 webcam frames with one near face."""

    detect_max_side: int = 320
    upsample: int = 1
    min_face_px: float = 40.0  # in full-resolution pixels; smaller boxes are ignored
    # A second face counts only when it is a confident detection (HOG score) at least this fraction of the
    # largest face's side. HOG finds weak false faces in clutter: in scikit-image's astronaut, one of 59 px
    # with score 0.0-0.06 next to the 100 px face scoring 1.2 (real second faces there score about 1.0).
    # A far-away bystander is not the person presenting either.
    min_relative_size: float = 0.5
    min_extra_score: float = 0.3
    # When nothing is found, search again with a border of this fraction of the longer side on every side
    # (0: never). A face that fills the image touches its border, and HOG scores no window that leaves it.
    pad: float = 0.3
    # Scan the pyramid levels from this one down first (level k: (5/6)**k of the upsampled copy, with no
    # upsampling), and the whole pyramid only when they find no face (0: always the whole pyramid). The
    # coarse levels see faces of at least about 73 / ((5/6)**k * 2**upsample * detect_max_side) of the
    # longer side (level 2: 16 %); when they find one, a second face counts only when they find it too.
    coarse_level: int = 2

    def __post_init__(self) -> None:
        if (
            self.detect_max_side < 64
            or self.upsample < 0
            or self.min_face_px < 0
            or self.pad < 0
            or self.coarse_level < 0
        ):
            raise ValueError(f"invalid detector settings: {self}")

    @property
    def coarse_scale(self) -> float:
        """Scale of the coarse scan relative to the `detect_max_side` copy (1.0: no coarse scan)."""
        return float(2**self.upsample * (5.0 / 6.0) ** self.coarse_level) if self.coarse_level else 1.0


DEFAULT_DETECTOR = DetectorSettings()


class _Dlib:
    """Lazily loaded dlib models (importing face_recognition costs about 1 s, so only when needed).

    dlib documents an object detector as unsafe to share between threads, so each thread scans with a copy
    of its own (`detector()`: unpickling one costs about 2 ms, building the first about 450 ms). dlib lets go
    of the GIL while it scans, so two requests' searches run on two cores at once instead of queueing on one
    lock (the gateway's two detection workers: under an image load, one core otherwise idled while the other
    scanned). The 68-point predictor (about 100 MB) is shared without a lock: dlib documents a shape
    predictor as safe to use from several threads at once (its Python binding keeps the GIL while it fits
    a face, about 1.2-2.6 ms, so two threads fit no faster than one).
    """

    def __init__(self) -> None:
        import dlib
        import face_recognition_models  # heavy: deferred until first use

        first: Any = dlib.get_frontal_face_detector()
        self._detector_state = pickle.dumps(first)
        self._local = threading.local()
        self._local.detector = first
        self.predictor: Any = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
        self.rect = dlib.rectangle

    def detector(self) -> Any:
        """This thread's HOG face detector."""
        detector = getattr(self._local, "detector", None)
        if detector is None:
            # Bytes pickled above from dlib's own detector, never from outside the process.
            detector = self._local.detector = pickle.loads(self._detector_state)  # noqa: S301
        return detector


@cache
def _dlib() -> _Dlib:
    return _Dlib()


def load() -> None:
    """Load the detector now (servers call this at start-up, before reporting SERVING)."""
    _dlib()


def _scored_boxes(
    image: RGBImage,
    settings: DetectorSettings,
    margin: int = 0,
    coarse: bool = False,
    window: tuple[int, int, int, int] | None = None,
) -> tuple[list[tuple[Box, float]], float]:
    """HOG boxes and scores in the coordinates of `image`, searched with `margin` black pixels around it, and
    the scale of the scanned copy relative to `image`.

    The image with its margin is downscaled to `detect_max_side`: a padded search costs what a plain one does.
    `coarse`: scan only the pyramid levels from `settings.coarse_level` down. `window` (left, top, right,
    bottom pixels): scan only that part of the image, at the scale the whole image is scanned at.
    """
    h, w = image.shape[:2]
    side = settings.detect_max_side * max(h, w) // (max(h, w) + 2 * margin)
    factor = min(1.0, side / float(max(h, w))) * (settings.coarse_scale if coarse else 1.0)
    x0, y0, x1, y1 = window if window is not None else (0, 0, w, h)
    grey = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
    if factor != 1.0:
        interp = cv2.INTER_AREA if factor < 1.0 else cv2.INTER_LINEAR
        size = (round((x1 - x0) * factor), round((y1 - y0) * factor))
        grey = cv2.resize(grey, size, interpolation=interp)
    shift = 0.0
    if margin:
        m = round(margin * factor)
        grey = cv2.copyMakeBorder(grey, m, m, m, m, cv2.BORDER_CONSTANT, value=0)
        shift = m / factor
    grey = np.ascontiguousarray(grey, dtype=np.uint8)
    rects, scores, _ = _dlib().detector().run(grey, 0 if coarse else settings.upsample, 0.0)
    found: list[tuple[Box, float]] = []
    for r, score in zip(rects, scores, strict=True):
        box = Box(
            max(0.0, r.left() / factor - shift + x0),
            max(0.0, r.top() / factor - shift + y0),
            min(float(w), (r.right() + 1) / factor - shift + x0),
            min(float(h), (r.bottom() + 1) / factor - shift + y0),
        )
        if min(box.width, box.height) >= settings.min_face_px:
            found.append((box, float(score)))
    return found, factor


COARSE_ACCEPT_PX = 80.0
"""A coarse scan's answer stands only when its largest box is at least this wide at the scanned scale.

Boxes from the coarse scan's finest level are about 73 px there; a face whose best fit lies on a finer level
also fires on that level, with a box up to 20 % too large (measured on 650 NUAA and replay-more images and
the sample clip). Such a face is searched again with the whole pyramid, in a window of REFINE_WINDOW x its
box side around it."""
REFINE_WINDOW = 3.0


def _largest_side(found: Sequence[tuple[Box, float]]) -> float:
    return max((max(b.width, b.height) for b, _ in found), default=0.0)


def _window(box: Box, image: RGBImage) -> tuple[int, int, int, int]:
    """The REFINE_WINDOW square around `box`, in whole pixels, clipped to the image."""
    h, w = image.shape[:2]
    sq = square_box(box, REFINE_WINDOW)
    return (
        max(0, math.floor(sq.left)),
        max(0, math.floor(sq.top)),
        min(w, math.ceil(sq.right)),
        min(h, math.ceil(sq.bottom)),
    )


def _refit(image: RGBImage, settings: DetectorSettings, box: Box) -> tuple[Box, float] | None:
    """The whole pyramid's fit of the face a coarse scan found at `box`: the best-scoring box it finds in a
    window around `box` whose centre lies inside `box` (boxes elsewhere in the window are not this face and
    were not found by the coarse scan), or None."""
    refit, _ = _scored_boxes(image, settings, window=_window(box, image))
    inside = [
        (b, sc)
        for b, sc in refit
        if box.left <= b.center[0] <= box.right and box.top <= b.center[1] <= box.bottom
    ]
    return max(inside, key=lambda bs: bs[1]) if inside else None


def _refit_extra_faces(
    image: RGBImage, settings: DetectorSettings, found: list[tuple[Box, float]], factor: float
) -> list[tuple[Box, float]]:
    """A coarse scan's faces, with each second face that would count (see detect_boxes) but lies on the coarse
    scan's finest level fitted again by the whole pyramid in a window around it: its coarse box may be up to
    20 % too large, which alone can lift it over the size floor of a second face. Those the refit does not
    find again are dropped."""
    largest = max(found, key=lambda bs: bs[0].area)
    floor = settings.min_relative_size * max(largest[0].width, largest[0].height)
    out = [largest]
    for box, score in found:
        if (box, score) == largest:
            continue
        side = max(box.width, box.height)
        if side * factor >= COARSE_ACCEPT_PX or side < floor or score < settings.min_extra_score:
            out.append((box, score))
            continue
        refit = _refit(image, settings, box)
        if refit is not None:
            out.append(refit)
    return out


def _search(image: RGBImage, settings: DetectorSettings) -> list[tuple[Box, float]]:
    """The scans of detect_boxes, cheapest first, until one finds a face.

    1. Coarse levels, plain then padded (the face of a tight crop is large, so its padded search is coarse
       too). When the largest face found plainly is at the coarse scan's finest level, the whole pyramid
       fits it again inside a window around it; faces found elsewhere by the coarse scan still count. A
       second face on that level is refitted likewise (see _refit_extra_faces).
    2. The whole pyramid, plain then padded, for small faces.
    """
    h, w = image.shape[:2]
    margin = round(settings.pad * max(h, w))
    margins = (0, margin) if margin else (0,)
    if settings.coarse_level:
        for m in margins:
            found, factor = _scored_boxes(image, settings, m, coarse=True)
            if not found:
                continue
            if _largest_side(found) * factor >= COARSE_ACCEPT_PX:
                return _refit_extra_faces(image, settings, found, factor)
            if m:
                break  # a small face in a padded scan: the whole pyramid below decides
            largest = max(found, key=lambda bs: bs[0].area)[0]
            refit = _refit(image, settings, largest)
            if refit is not None:
                cx, cy = refit[0].center
                others = [
                    (b, sc) for b, sc in found if not (b.left <= cx <= b.right and b.top <= cy <= b.bottom)
                ]
                return _refit_extra_faces(image, settings, [refit, *others], factor)
            break  # nothing in the window at the finer levels: scan the whole pyramid
    for m in margins:
        found, _ = _scored_boxes(image, settings, m)
        if found:
            return found
    return []


def detect_boxes(image: RGBImage, settings: DetectorSettings = DEFAULT_DETECTOR) -> list[Box]:
    """Face boxes in full-resolution coordinates, largest first (see DetectorSettings for what counts)."""
    found = _search(image, settings)
    if not found:
        return []
    found.sort(key=lambda bs: bs[0].area, reverse=True)
    largest = found[0][0]
    floor = settings.min_relative_size * max(largest.width, largest.height)
    others = [b for b, s in found[1:] if max(b.width, b.height) >= floor and s >= settings.min_extra_score]
    return [largest, *others]


def landmarks(image: RGBImage, box: Box) -> npt.NDArray[np.float32]:
    """The 68 dlib landmarks of the face in `box`, float32 (68, 2) as (x, y) pixels."""
    models = _dlib()
    rect = models.rect(round(box.left), round(box.top), round(box.right) - 1, round(box.bottom) - 1)
    shape = models.predictor(image, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def observe(
    image: RGBImage,
    frame_index: int = 0,
    settings: DetectorSettings = DEFAULT_DETECTOR,
    with_landmarks: bool = True,
) -> FaceObservation:
    """Detect faces in one frame and describe the largest one with its landmarks (`with_landmarks` False:
    its box only, for callers that read no landmarks; fitting them costs about 1.2 ms a face)."""
    boxes = detect_boxes(image, settings)
    if not boxes:
        return FaceObservation(frame_index=frame_index, count=0, face=None)
    face = Face(box=boxes[0], landmarks=landmarks(image, boxes[0]) if with_landmarks else None)
    return FaceObservation(frame_index=frame_index, count=len(boxes), face=face)


TURNS = (0, 1, 3)
"""Quarter turns (numpy.rot90's k: counter-clockwise) `observe_upright` tries, in this order."""


def turn(image: RGBImage, k: int) -> RGBImage:
    """`image` turned by k quarter turns counter-clockwise (numpy.rot90), as a contiguous copy."""
    return np.ascontiguousarray(np.rot90(image, k % 4)) if k % 4 else image


def observe_upright(
    image: RGBImage,
    frame_index: int = 0,
    settings: DetectorSettings = DEFAULT_DETECTOR,
    with_landmarks: bool = True,
) -> tuple[int, FaceObservation]:
    """`observe` on the image as it is, else turned by 90 degrees either way.

    Returns (k, the observation of turn(image, k)).

    A phone frame held sideways shows the face lying on its side, where a detector of upright faces finds
    nothing. When no turn shows a face, k is 0 and the observation says NO_FACE.
    """
    first = observe(image, frame_index, settings, with_landmarks)
    if first.face is not None:
        return 0, first
    return observe_turned(image, frame_index, settings, with_landmarks) or (0, first)


def observe_turned(
    image: RGBImage,
    frame_index: int = 0,
    settings: DetectorSettings = DEFAULT_DETECTOR,
    with_landmarks: bool = True,
) -> tuple[int, FaceObservation] | None:
    """The turns of `observe_upright` after the upright one: (k, the observation of turn(image, k)) for the
    first quarter turn that shows a face, or None."""
    for k in TURNS[1:]:
        obs = observe(turn(image, k), frame_index, settings, with_landmarks)
        if obs.face is not None:
            return k, obs
    return None


def upright_face(
    image: RGBImage, settings: DetectorSettings = DEFAULT_DETECTOR
) -> tuple[RGBImage, Box] | None:
    """The image as a face test is served it, turned so its largest face is upright, and that face's box
    (`observe_upright`, boxes only); None when no turn shows a face."""
    turns, obs = observe_upright(image, settings=settings, with_landmarks=False)
    if obs.face is None:
        return None
    return turn(image, turns), obs.face.box


def observe_media(
    media: Media, settings: DetectorSettings = DEFAULT_DETECTOR, with_landmarks: bool = True
) -> list[FaceObservation]:
    """One observation per frame of `media`."""
    return [observe(frame, i, settings, with_landmarks) for i, frame in enumerate(media.frames)]


def yaw(landmarks: npt.NDArray[np.float32]) -> float:
    """Head yaw proxy in [-1, 1] from where the nose tip sits between the jaw ends (points 0 and 16).

    0 is frontal. Positive when the nose tip moves toward the image's right, which in an unmirrored camera
    frame is the subject turning to their own left.
    """
    left, right, nose = landmarks[0, 0], landmarks[16, 0], landmarks[30, 0]
    width = right - left
    if width <= 0:
        return 0.0
    return float(np.clip(((nose - left) - (right - nose)) / width, -1.0, 1.0))


def single_face_frames(
    faces: Sequence[FaceObservation], n_frames: int, limit: int, frontal: bool = False
) -> tuple[list[int], TestResult | None]:
    """The frames a face test scores: up to `limit` of those with exactly one face, evenly spaced (first and
    last included), or the answer when there are none.

    `frontal`: the `limit` frames whose face is nearest frontal instead (smallest |yaw|, the earlier frame on
    ties), in frame order, when every usable frame has landmarks; evenly spaced when one has none.

    Any frame with several faces makes the answer MULTIPLE_FACES: a second face may be the presented photo
    or screen, so scoring only the largest one could pass an attack. No frame with a face: NO_FACE.
    """
    if any(obs.status is Status.MULTIPLE_FACES for obs in faces):
        n = max(obs.count for obs in faces)
        return [], TestResult(score=0.0, status=Status.MULTIPLE_FACES, detail=f"{n} faces in a frame")
    usable = [i for i, obs in enumerate(faces) if obs.status is Status.OK and i < n_frames]
    if not usable:
        return [], TestResult(score=0.0, status=Status.NO_FACE, detail="no face found")
    found = (faces[i].face for i in usable)
    marks = [f.landmarks for f in found if f is not None and f.landmarks is not None]
    if frontal and len(usable) > limit and len(marks) == len(usable):
        turn = [abs(yaw(lm)) for lm in marks]
        nearest = sorted(range(len(usable)), key=lambda k: (turn[k], k))[:limit]
        return [usable[k] for k in sorted(nearest)], None
    return [usable[i] for i in evenly_spaced(len(usable), limit)], None


def square_box(box: Box, scale: float) -> Box:
    """A square of side `scale` x the box's longer side, centred on the box (seed 001 squares the box)."""
    cx, cy = box.center
    half = scale * max(box.width, box.height) / 2.0
    return Box(cx - half, cy - half, cx + half, cy + half)


def crop(image: RGBImage, box: Box, scale: float, size: int, pad: str = "black") -> RGBImage:
    """The square crop around `box` at `scale`, resized to (size, size, 3).

    Parts of the square outside the frame are black (`pad="black"`), so context scales show where the frame
    ends instead of stretching the face, or repeat the frame's edge pixels (`pad="edge"`), which a black
    screen bezel or print border beside the face cannot be mistaken for. One affine warp does the crop, the
    padding and the resize together.
    """
    if scale <= 0 or size <= 0:
        raise ValueError(f"scale and size must be positive, got scale={scale}, size={size}")
    if pad not in PADDING:
        raise ValueError(f"pad must be one of {sorted(PADDING)}, got {pad!r}")
    sq = square_box(box, scale)
    k = size / sq.width
    matrix = np.array([[k, 0.0, -sq.left * k], [0.0, k, -sq.top * k]], dtype=np.float64)
    interp = cv2.INTER_AREA if k < 1.0 else cv2.INTER_LINEAR
    out = cv2.warpAffine(
        image, matrix, (size, size), flags=interp, borderMode=PADDING[pad], borderValue=(0, 0, 0)
    )
    return np.ascontiguousarray(out, dtype=np.uint8)


PADDING = {"black": cv2.BORDER_CONSTANT, "edge": cv2.BORDER_REPLICATE}
"""How `crop` fills what lies outside the frame."""


def crops(
    image: RGBImage, box: Box, scales: Sequence[float], size: int, pad: str = "black"
) -> list[RGBImage]:
    """One crop per scale (MS-FANS uses 1.1 to 1.5 of the box)."""
    return [crop(image, box, s, size, pad) for s in scales]


def eye_aspect_ratio(points: npt.NDArray[np.float32]) -> float:
    """Soukupova and Cech's EAR of one eye's six landmarks: (|p2-p6| + |p3-p5|) / (2 |p1-p4|)."""
    p = points.astype(np.float64)
    vertical = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
    horizontal = 2.0 * np.linalg.norm(p[0] - p[3])
    return float(vertical / horizontal) if horizontal > 0 else 0.0


def validate_observations(observations: Sequence[FaceObservation], media: Media) -> None:
    """Check supplied face regions against the media: one per frame, boxes inside the frame.

    Raises InvalidInput; used by services that receive regions from the gateway.
    """
    if len(observations) != len(media):
        raise InvalidInput(
            f"faces: {len(observations)} face regions for {len(media)} frames; send one per frame"
        )
    h, w = media.frame_size if len(media) else (0, 0)
    for i, obs in enumerate(observations):
        if obs.frame_index != i:
            raise InvalidInput(f"faces[{i}].frame_index: {obs.frame_index}; expected {i}")
        if obs.count < 0:
            raise InvalidInput(f"faces[{i}].face_count: negative ({obs.count})")
        if obs.face is None:
            if obs.count > 0:
                raise InvalidInput(f"faces[{i}].box: unset, but face_count is {obs.count}")
            continue
        b = obs.face.box
        if not (0 <= b.left < b.right <= w + 1 and 0 <= b.top < b.bottom <= h + 1):
            raise InvalidInput(f"faces[{i}].box: {b} lies outside the {w}x{h} frame")
        lm = obs.face.landmarks
        if lm is not None and lm.shape != (N_LANDMARKS, 2):
            raise InvalidInput(f"faces[{i}].landmarks: {lm.shape[0]} points; expected {N_LANDMARKS} or none")
        if lm is not None and not np.isfinite(lm).all():
            raise InvalidInput(f"faces[{i}].landmarks: non-finite coordinates")
