"""Domain values shared by every test and the gateway. No grpc or protobuf imports here.

Everything after decoding is RGB uint8, shape (H, W, 3).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

RGBImage = npt.NDArray[np.uint8]
"""An RGB image, uint8, shape (H, W, 3)."""


class Status(enum.Enum):
    """Outcome of one test; mirrors liveness.v1.Status (proto names are STATUS_<name>)."""

    OK = "OK"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    NO_FACE = "NO_FACE"
    MULTIPLE_FACES = "MULTIPLE_FACES"
    LOW_QUALITY = "LOW_QUALITY"
    TIMEOUT = "TIMEOUT"
    UNAVAILABLE = "UNAVAILABLE"
    ERROR = "ERROR"


class Decision(enum.Enum):
    """Fused answer of the gateway; mirrors liveness.v1.Decision."""

    LIVE = "LIVE"
    SPOOF = "SPOOF"
    UNCERTAIN = "UNCERTAIN"


@dataclass(frozen=True, slots=True)
class Box:
    """Axis-aligned box in pixel coordinates of the full frame (right/bottom exclusive)."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2.0, (self.top + self.bottom) / 2.0)

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    def scaled(self, factor: float) -> Box:
        """The same box in an image resized by `factor`."""
        return Box(self.left * factor, self.top * factor, self.right * factor, self.bottom * factor)


@dataclass(frozen=True, slots=True)
class Face:
    """One detected face: its box and the 68 dlib landmarks, float32 (68, 2) as (x, y)."""

    box: Box
    landmarks: npt.NDArray[np.float32] | None = None


@dataclass(frozen=True, slots=True)
class FaceObservation:
    """What face detection found in one frame: how many faces, and the largest one."""

    frame_index: int
    count: int
    face: Face | None

    @property
    def status(self) -> Status:
        if self.count == 0 or self.face is None:
            return Status.NO_FACE
        if self.count > 1:
            return Status.MULTIPLE_FACES
        return Status.OK


@dataclass(frozen=True, slots=True)
class Media:
    """Decoded request media: one image, or the frames of a clip with their timestamps.

    `frames` is a tuple, or for a test given the gateway's faces a liveness.vision.decode.LazyFrames (each
    frame decoded when first read)."""

    frames: Sequence[RGBImage]
    timestamps_ms: tuple[int, ...]
    is_clip: bool

    @property
    def image(self) -> RGBImage:
        """The single image, or the middle frame of a clip."""
        return self.frames[len(self.frames) // 2]

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def frame_size(self) -> tuple[int, int]:
        """(height, width) of the frames (a clip's frames all have one size), without decoding a lazy one."""
        size = getattr(self.frames, "frame_size", None)
        if size is not None:
            return (int(size[0]), int(size[1]))
        h, w = self.frames[0].shape[:2]
        return (int(h), int(w))


class Action(enum.Enum):
    """A challenge step a client can be asked to perform; mirrors liveness.v1.Action."""

    BLINK = "BLINK"
    SMILE = "SMILE"
    SURPRISE = "SURPRISE"
    TURN_LEFT = "TURN_LEFT"
    TURN_RIGHT = "TURN_RIGHT"


@dataclass(frozen=True, slots=True)
class CheckOptions:
    """Optional parts of a request beyond the media."""

    challenge: tuple[Action, ...] = ()
    reference: RGBImage | None = None


@dataclass(frozen=True, slots=True)
class ActionResult:
    """Whether one challenge step was seen, and where."""

    action: Action
    satisfied: bool
    frame_index: int = -1
    confidence: float = 0.0


@dataclass(frozen=True, slots=True)
class TestResult:
    """A test's answer: score is P(live) in [0, 1]; status says whether the score means anything."""

    __test__ = False  # not a pytest test class

    score: float
    status: Status = Status.OK
    detail: str = ""
    challenge: tuple[ActionResult, ...] = ()

    def __post_init__(self) -> None:
        if not (0.0 <= self.score <= 1.0) or self.score != self.score:
            raise ValueError(f"score must be a probability in [0, 1], got {self.score!r}")


@dataclass(frozen=True, slots=True)
class TestAnswer:
    """One test's answer to one request as the gateway saw it: the test's own `TestResult` with its name,
    version and time, or one the gateway made for it (NOT_APPLICABLE, TIMEOUT, UNAVAILABLE, ERROR).

    Unlike TestResult it does not check `score`: it carries what the test sent, and the score means
    something only when `status` is OK.
    """

    __test__ = False  # not a pytest test class

    test: str
    version: str
    status: Status
    score: float = 0.0
    detail: str = ""
    latency_ms: float = 0.0
    challenge: tuple[ActionResult, ...] = ()


@dataclass(frozen=True, slots=True)
class TestInfo:
    """What a test accepts and how it should be read; served by Describe."""

    __test__ = False  # not a pytest test class

    name: str
    version: str
    accepts_image: bool
    accepts_clip: bool
    min_frames: int = 1
    max_frames: int = 1
    recommended_threshold: float = 0.5
    needs_face: bool = True
    model_card: str = ""
    supported_actions: tuple[Action, ...] = field(default_factory=tuple)
    # Reads only the face boxes and counts, never the landmarks: callers need not fit or send them.
    face_box_only: bool = False
    # With face_box_only: still reads the landmarks of a clip's frames (a clip's are fitted anyway, to track
    # the face); an image gets boxes alone.
    clip_landmarks: bool = False

    def accepts(self, media: Media) -> bool:
        """Whether this test can say anything about `media` (frame count inside its range)."""
        return self.accepts_frames(len(media), media.is_clip)

    def accepts_frames(self, frames: int, is_clip: bool) -> bool:
        """`accepts` for media of `frames` frames, a clip or (is_clip False) one image."""
        if not is_clip:
            return self.accepts_image
        return self.accepts_clip and frames >= self.min_frames


class LivenessModel(Protocol):
    """What every test's pure model class provides to the shared servicer (no gRPC)."""

    @property
    def info(self) -> TestInfo: ...

    def check(self, media: Media, faces: Sequence[FaceObservation], options: CheckOptions) -> TestResult:
        """Score `media`; `faces` has one observation per frame when `info.needs_face`, else is empty."""
        ...

    def warmup(self) -> None:
        """Run one inference so the first real request does not pay for lazy initialisation."""
        ...
