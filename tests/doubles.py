"""Test doubles for the contract and gateway tests. They live in tests/ only, never in a shipped config."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from liveness.types import CheckOptions, FaceObservation, Media, Status, TestInfo, TestResult


@dataclass
class Call:
    frames: int
    is_clip: bool
    faces: list[FaceObservation]
    options: CheckOptions
    shape: tuple[int, ...] = ()  # of the first frame


@dataclass
class DoubleModel:
    """A LivenessModel answering a fixed score after `delay_s`, recording what it was sent.

    With `hang` set it blocks until `release` is set (or 60 s), like a test stuck in inference.
    """

    name: str = "double"
    score: float = 0.9
    delay_s: float = 0.0
    accepts_image: bool = True
    accepts_clip: bool = True
    min_frames: int = 1
    max_frames: int = 16
    needs_face: bool = False
    hang: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    calls: list[Call] = field(default_factory=list)

    @property
    def info(self) -> TestInfo:
        return TestInfo(
            name=self.name,
            version="double-1",
            accepts_image=self.accepts_image,
            accepts_clip=self.accepts_clip,
            min_frames=self.min_frames,
            max_frames=self.max_frames,
            needs_face=self.needs_face,
            recommended_threshold=0.5,
            model_card="test double",
        )

    def check(self, media: Media, faces: Sequence[FaceObservation], options: CheckOptions) -> TestResult:
        self.calls.append(Call(len(media), media.is_clip, list(faces), options, media.frames[0].shape))
        if self.hang:
            self.release.wait(60.0)
        elif self.delay_s:
            time.sleep(self.delay_s)
        if self.needs_face and faces and faces[0].status is not Status.OK:
            return TestResult(0.0, faces[0].status, "face problem")
        return TestResult(self.score, Status.OK, "fixed score")

    def warmup(self) -> None:
        return None
