"""Which test gets what: a pure plan from the tests' Describe answers and the request's media.

- A clip goes to each test that takes clips of its length, as up to `max_frames` evenly spaced frames.
- A single image, and a clip for a test that takes only images, goes to image tests as one frame: the chosen
  frame (the middle one of a clip), which is also the frame whose face search `face_status` reports.
- A test that was never described is UNAVAILABLE, one that takes neither NOT_APPLICABLE: the plan answers
  for them, and they are not called.
- Every test called gets the request's challenge (a session's, or the client's own).
- The face search covers every frame sent to a test that needs faces; when no such test is called but a
  session's flash check needs a face box, it covers the chosen frame. It starts from the keyframe, the
  frame of that set nearest the chosen one.
- Landmarks are fitted for a clip (tracking follows them) and for an image one of whose face tests reads
  them; an image whose face tests all say `face_box_only` gets boxes alone, and so does every call to such a
  test, except a clip's to a test that also says `clip_landmarks`.

Pure: no gRPC, no protobuf, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from liveness.types import Action, Status, TestAnswer, TestInfo
from liveness.vision.frames import evenly_spaced


@dataclass(frozen=True, slots=True)
class Candidate:
    """A configured test as the gateway knows it now: its last Describe answer (None: never described) and
    why it could not be described."""

    name: str
    info: TestInfo | None
    error: str = ""


@dataclass(frozen=True, slots=True)
class Call:
    """One test call: the frame indexes of the request's media it gets, as a clip or as one image."""

    test: str
    version: str
    frames: tuple[int, ...]
    as_clip: bool
    needs_face: bool
    min_frames: int  # the fewest of `frames` the call needs (a clip: the test's min_frames; an image: 1)
    landmarks: bool = True  # the face regions sent carry landmarks (False: the test reads boxes only)


@dataclass(frozen=True, slots=True)
class Plan:
    chosen: int  # the frame image tests get, and whose face search face_status reports
    calls: tuple[Call, ...]
    answered: tuple[TestAnswer, ...]  # the tests not called, with the gateway's answer for each
    challenge: tuple[Action, ...]  # sent with every call
    face_frames: tuple[int, ...]  # the frames tests need faces for (empty: no test needs a face)
    search_frames: tuple[int, ...]  # the frames the face search covers (empty: no search)
    keyframe: int | None  # where the face search starts (None: no search)
    landmarks: bool = True  # the face search fits landmarks (False: boxes only)


def plan(
    tests: Sequence[Candidate],
    frames: int,
    is_clip: bool,
    challenge: Sequence[Action] = (),
    flash: bool = False,
) -> Plan:
    """The plan for media of `frames` frames (`is_clip` False: one image); `flash`: a flash check needs a
    face box whether or not a test needs faces."""
    chosen = frames // 2
    calls: list[Call] = []
    answered: list[TestAnswer] = []
    for test in tests:
        info = test.info
        if info is None:
            why = f"cannot describe test ({test.error})"
            answered.append(TestAnswer(test.name, "", Status.UNAVAILABLE, detail=why))
        elif is_clip and info.accepts_frames(frames, is_clip):
            picked = tuple(evenly_spaced(frames, max(info.max_frames, 1)))
            calls.append(
                Call(
                    test.name,
                    info.version,
                    picked,
                    True,
                    info.needs_face,
                    info.min_frames,
                    not info.face_box_only or info.clip_landmarks,
                )
            )
        elif info.accepts_image:
            calls.append(
                Call(test.name, info.version, (chosen,), False, info.needs_face, 1, not info.face_box_only)
            )
        else:
            what = f"a clip of {frames} frames" if is_clip else "a single image"
            why = f"{test.name} needs a clip of at least {info.min_frames} frames, got {what}"
            answered.append(TestAnswer(test.name, info.version, Status.NOT_APPLICABLE, detail=why))
    face_frames = tuple(sorted({i for c in calls if c.needs_face for i in c.frames}))
    search = face_frames or ((chosen,) if flash else ())
    keyframe = min(search, key=lambda i: abs(i - chosen)) if search else None
    landmarks = is_clip or any(c.landmarks for c in calls if c.needs_face)
    return Plan(
        chosen, tuple(calls), tuple(answered), tuple(challenge), face_frames, search, keyframe, landmarks
    )
