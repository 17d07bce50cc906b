"""The temporal test: a clip of face frames -> P(live), plus the challenge actions and identity checks.

Cues, all from the frames and the per-frame face observations the runtime supplies:
- the LSTM-CNN over SEQ_LEN face crops (seed 004) gives the score;
- blinks (EAR over time) and rigid-versus-non-rigid landmark motion are reported in `detail`, and a clip
  whose landmarks moved as one plane (a print or a screen moved around) has its score capped;
- an optional challenge (SMILE, SURPRISE, BLINK, TURN_LEFT, TURN_RIGHT) must appear in order (seed 002);
  a failed challenge caps the score, since a replay cannot follow a random challenge;
- identity: the same person in a few frames spread over the clip, and the reference image's person
  when the request carries one (FaceLiveNet's verification + liveness): a mismatch caps the score.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from liveness.runtime.config import from_env_fields
from liveness.types import (
    Action,
    ActionResult,
    Box,
    CheckOptions,
    Face,
    FaceObservation,
    Media,
    RGBImage,
    Status,
    TestInfo,
    TestResult,
)
from liveness.vision import face as facelib
from temporal.blink import BlinkSettings, detect_blinks, ear_track
from temporal.challenge import ChallengeSettings, match_in_order
from temporal.expression import EXPRESSIONS, ExpressionClassifier
from temporal.identity import Encoder, IdentityChecker, IdentityResult, face_recognition_encoder
from temporal.motion import MotionSummary, summarise
from temporal.sequence import SEQ_LEN, SequenceClassifier, sequence_input, spread_indices

NAME = "temporal"
VERSION = "0.1.0"
MODELS = Path(__file__).resolve().parents[1] / "models"
SUPPORTED_ACTIONS = (Action.BLINK, Action.SMILE, Action.SURPRISE, Action.TURN_LEFT, Action.TURN_RIGHT)
CAPPED_SCORE = 0.05
"""Score ceiling when a hard check fails (challenge not followed, planar motion, other person)."""


@dataclass(frozen=True, slots=True)
class TemporalSettings:
    """Start-up configuration; every field can be set as TEMPORAL_<FIELD> in the environment."""

    model_path: Path = MODELS / "sequence.onnx"
    expression_path: Path = MODELS / "expression.onnx"
    threads: int = 1
    min_frames: int = 8
    max_frames: int = 32
    threshold: float = 0.5
    min_face_fraction: float = 0.5  # of the frames; fewer faces -> NO_FACE
    identity_frames: int = 2  # frames encoded for the identity check (about 8 ms each); 0 turns it off
    identity_tolerance: float = 0.6
    expression_threshold: float = 0.6
    turn_threshold: float = 0.25
    planar_motion_min: float = 0.15  # IOD units of motion before the planar-motion cap can apply
    planar_nonrigidity_max: float = 0.02  # residual / displacement below this reads as one moving plane

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if not SEQ_LEN <= self.min_frames <= self.max_frames:
            raise ValueError(
                f"need {SEQ_LEN} <= min_frames <= max_frames, got {self.min_frames}, {self.max_frames}"
            )
        if not 0.0 < self.min_face_fraction <= 1.0 or not 0.0 <= self.threshold <= 1.0:
            raise ValueError("min_face_fraction must be in (0, 1] and threshold in [0, 1]")
        if self.identity_frames < 0 or self.identity_frames == 1:
            raise ValueError("identity_frames must be 0 (off) or >= 2")
        if not 0.0 < self.expression_threshold < 1.0 or self.turn_threshold <= 0:
            raise ValueError("expression_threshold must be in (0, 1) and turn_threshold > 0")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> TemporalSettings:
        """Read TEMPORAL_MODEL_PATH, TEMPORAL_THREADS, ...; a malformed value raises ValueError."""
        return cls(**from_env_fields(cls, env, "TEMPORAL_"))


@dataclass(frozen=True, slots=True)
class _Track:
    """The frames of the clip that have exactly one usable face, with landmarks."""

    indexes: list[int]
    faces: list[Face]
    landmarks: list[npt.NDArray[np.float32] | None]  # one per frame of the clip (None: no face)


class TemporalModel:
    """Satisfies liveness.types.LivenessModel for clips of min_frames..max_frames frames."""

    def __init__(self, settings: TemporalSettings, encoder: Encoder = face_recognition_encoder) -> None:
        self.settings = settings
        self._sequence = SequenceClassifier(settings.model_path, settings.threads)
        self._expression = ExpressionClassifier(settings.expression_path, settings.threads)
        self._identity = IdentityChecker(encoder, settings.identity_tolerance)
        self._challenge = ChallengeSettings(settings.expression_threshold, settings.turn_threshold)
        self._info = TestInfo(
            name=NAME,
            version=f"{VERSION}+{self._sequence.version}+{self._expression.version}",
            accepts_image=False,
            accepts_clip=True,
            min_frames=settings.min_frames,
            max_frames=settings.max_frames,
            recommended_threshold=settings.threshold,
            needs_face=True,
            model_card=(
                "LSTM-CNN over 8 face crops (seed 004) with blink, planar-motion, challenge (FER2013 "
                "expressions, EAR blinks, landmark yaw) and identity checks; research-grade, trained on "
                "NUAA, replay-dev and FER2013 only."
            ),
            supported_actions=SUPPORTED_ACTIONS,
        )

    @property
    def info(self) -> TestInfo:
        return self._info

    def warmup(self) -> None:
        """One pass of both networks on synthetic input, load the dlib landmark model and, when identity
        checks are on, the face encoder."""
        from temporal.expression import INPUT_SIZE
        from temporal.sequence import CROP_SIZE

        self._sequence.predict(np.zeros((1, SEQ_LEN, CROP_SIZE, CROP_SIZE, 3), np.float32))
        self._expression.predict(np.zeros((1, INPUT_SIZE, INPUT_SIZE, 1), np.float32))
        facelib.load()
        if self.settings.identity_frames:
            self._identity.warmup()

    def check(self, media: Media, faces: Sequence[FaceObservation], options: CheckOptions) -> TestResult:
        """Score the clip; see the module docstring for the cues and how they combine."""
        facelib.validate_observations(faces, media)
        if len(media) > self.settings.max_frames:
            # The runtime bounds frames too; a direct caller gets the first max_frames.
            media = Media(
                media.frames[: self.settings.max_frames],
                media.timestamps_ms[: self.settings.max_frames],
                media.is_clip,
            )
            faces = faces[: self.settings.max_frames]
        track = self._track(media, faces)
        n_multi = sum(1 for o in faces if o.status is Status.MULTIPLE_FACES)
        needed = self.settings.min_face_fraction * len(media)
        if n_multi >= needed:
            return TestResult(0.0, Status.MULTIPLE_FACES, f"{n_multi}/{len(media)} frames show several faces")
        if len(track.indexes) < needed or len(track.indexes) < 2:
            return TestResult(
                0.0, Status.NO_FACE, f"a single face in {len(track.indexes)}/{len(media)} frames"
            )

        chosen = spread_indices(track.indexes, SEQ_LEN)
        face_of = dict(zip(track.indexes, track.faces, strict=True))
        p_seq = float(
            self._sequence.predict(
                sequence_input([media.frames[i] for i in chosen], [face_of[i].box for i in chosen])[None]
            )[0]
        )
        ear = ear_track(track.landmarks)
        blinks = detect_blinks(ear, media.timestamps_ms, BlinkSettings())
        motion = summarise(track.landmarks)
        planar = (
            motion.displacement >= self.settings.planar_motion_min
            and motion.nonrigidity < self.settings.planar_nonrigidity_max
            and not blinks
        )

        challenge: tuple[ActionResult, ...] = ()
        if options.challenge:
            challenge = match_in_order(
                options.challenge, self._evidence(media, track, blinks, options.challenge), self._challenge
            )
        identity = self._check_identity(media, track, options.reference)

        score = p_seq
        reasons = []
        if planar:
            reasons.append("planar motion")
        if challenge and not all(r.satisfied for r in challenge):
            reasons.append("challenge not followed")
        if identity is not None and not identity.consistent:
            reasons.append("face changes identity")
        if identity is not None and identity.reference_match is False:
            reasons.append("not the reference person")
        if reasons:
            score = min(score, CAPPED_SCORE)
        detail = _detail(p_seq, blinks, motion, challenge, identity, reasons)
        return TestResult(float(np.clip(score, 0.0, 1.0)), Status.OK, detail, challenge)

    def _track(self, media: Media, faces: Sequence[FaceObservation]) -> _Track:
        indexes: list[int] = []
        found: list[Face] = []
        marks: list[npt.NDArray[np.float32] | None] = []
        for obs in faces:
            if obs.status is not Status.OK or obs.face is None:
                marks.append(None)
                continue
            face = obs.face
            if face.landmarks is None:
                face = Face(face.box, facelib.landmarks(media.frames[obs.frame_index], face.box))
            indexes.append(obs.frame_index)
            found.append(face)
            marks.append(face.landmarks)
        return _Track(indexes, found, marks)

    def _evidence(
        self, media: Media, track: _Track, blinks: Sequence[Any], wanted: Sequence[Action]
    ) -> dict[Action, npt.NDArray[np.float64]]:
        """Per-frame evidence tracks (NaN where a frame has no face) for the requested actions."""
        n = len(media)
        evidence: dict[Action, npt.NDArray[np.float64]] = {}
        if Action.SMILE in wanted or Action.SURPRISE in wanted:
            probs = self._expression.predict_faces(
                [media.frames[i] for i in track.indexes], [f.box for f in track.faces]
            )
            for action, cls in ((Action.SMILE, "happy"), (Action.SURPRISE, "surprise")):
                values = np.full(n, np.nan)
                values[track.indexes] = probs[:, EXPRESSIONS.index(cls)]
                evidence[action] = values
        if Action.BLINK in wanted:
            values = np.zeros(n)
            for b in blinks:
                values[b.deepest] = max(b.depth, 1e-6)
            evidence[Action.BLINK] = values
        if Action.TURN_LEFT in wanted or Action.TURN_RIGHT in wanted:
            yaws = np.full(n, np.nan)
            for i, lm in enumerate(track.landmarks):
                if lm is not None:
                    yaws[i] = facelib.yaw(lm)
            evidence[Action.TURN_LEFT] = yaws
            evidence[Action.TURN_RIGHT] = -yaws
        return evidence

    def _check_identity(
        self, media: Media, track: _Track, reference: RGBImage | None
    ) -> IdentityResult | None:
        k = self.settings.identity_frames
        if k == 0:
            return None
        picks = sorted(set(spread_indices(list(range(len(track.indexes))), k)))
        frames = [track.indexes[p] for p in picks]
        ref: tuple[RGBImage, Box] | None = None
        if reference is not None:
            obs = facelib.observe(reference)
            if obs.face is None:
                # A reference without a face cannot match: report it as a mismatch, not an error.
                return IdentityResult(tuple(frames), 0.0, True, float("inf"), False)
            ref = (reference, obs.face.box)
        return self._identity.check(
            [media.frames[i] for i in frames], [track.faces[p].box for p in picks], frames, ref
        )


def _detail(
    p_seq: float,
    blinks: Sequence[Any],
    motion: MotionSummary,
    challenge: Sequence[Any],
    identity: IdentityResult | None,
    reasons: Sequence[str],
) -> str:
    parts = [
        f"sequence={p_seq:.3f}",
        f"blinks={len(blinks)}",
        f"motion={motion.displacement:.3f}iod nonrigidity={motion.nonrigidity:.3f}",
    ]
    if challenge:
        parts.append(f"challenge={sum(r.satisfied for r in challenge)}/{len(challenge)}")
    if identity is not None:
        parts.append(f"identity_distance={identity.max_distance:.3f}")
        if identity.reference_match is not None:
            parts.append(f"reference_match={str(identity.reference_match).lower()}")
    if reasons:
        parts.append("capped: " + ", ".join(reasons))
    return " ".join(parts)
