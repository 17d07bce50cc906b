"""voxel3d: is the face in a clip three-dimensional? Structure from the landmark tracks, voxels, a 3D CNN.

Pure domain code (numpy + onnxruntime, no grpc). The runtime passes one FaceObservation per frame; the
68-landmark tracks are factorised (voxel3d.geometry), the recovered shape is voxelised in the reference
face's frame and scored by a small Conv3D net together with analytic planarity features. A single image
says nothing about depth (seed 001's single-image reconstruction gave a photo a face's depth), so images are
not accepted; a clip whose head barely turns gives LOW_QUALITY instead of a guess.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from liveness.runtime.config import from_env_fields
from liveness.types import CheckOptions, FaceObservation, Media, Status, TestInfo, TestResult
from liveness.vision.frames import evenly_spaced
from voxel3d.features import FaceMesh, clip_inputs

VERSION = "1.0.0"
MODEL_FILE = "voxel3d.onnx"
GEOMETRY_FILE = "voxel3d_geometry.npz"
_MODELS = Path(__file__).resolve().parents[1] / "models"
SCORERS = ("cnn", "planarity")


@dataclass(frozen=True, slots=True)
class Voxel3dSettings:
    """How the voxel3d test loads and decides; every field has a default and a VOXEL3D_<FIELD> variable.

    min_pose_deg / min_rotation_deg: a clip gets a verdict when its head rotation (reference face fitted
    per frame) reaches min_pose_deg or the out-of-plane rotation of its landmark set reaches
    min_rotation_deg; None takes the trained values from the geometry file. scorer: "cnn" (Conv3D net on
    the voxels and the analytic features, the default) or "planarity" (logistic on the analytic features
    only, no ONNX needed: the fallback).
    """

    model_path: Path = _MODELS / MODEL_FILE
    geometry_path: Path = _MODELS / GEOMETRY_FILE
    threads: int = 1  # ONNX intra-op threads, and BLAS threads of the process
    # The Conv3D net is the default: on held-out NUAA people (3 subject folds, served code path) it reached a
    # mean ACER of 0.12 at 16 frames where the planarity logistic, trained the same way, reached 0.16
    # (models/crossval.json, MODEL_CARD.md).
    scorer: str = "cnn"
    min_frames: int = 8
    max_frames: int = 32  # the runtime keeps this many evenly spaced frames of a longer clip
    min_pose_deg: float | None = None
    min_rotation_deg: float | None = None
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.scorer not in SCORERS:
            raise ValueError(f"VOXEL3D_SCORER must be one of {SCORERS}, got {self.scorer!r}")
        if self.threads < 1:
            raise ValueError(f"VOXEL3D_THREADS must be >= 1, got {self.threads}")
        if not 4 <= self.min_frames <= self.max_frames <= 256:
            raise ValueError(
                "need 4 <= VOXEL3D_MIN_FRAMES <= VOXEL3D_MAX_FRAMES <= 256, got "
                f"{self.min_frames}, {self.max_frames}"
            )
        for name, value in (("MIN_POSE_DEG", self.min_pose_deg), ("MIN_ROTATION_DEG", self.min_rotation_deg)):
            if value is not None and not 0.0 <= value <= 90.0:
                raise ValueError(f"VOXEL3D_{name} must be in [0, 90], got {value}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"VOXEL3D_THRESHOLD must be in (0, 1), got {self.threshold}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Voxel3dSettings:
        """Settings from VOXEL3D_* variables; a malformed value raises ValueError at start-up."""
        return cls(**from_env_fields(cls, env, "VOXEL3D_"))


@dataclass(frozen=True, slots=True)
class GeometryArtifact:
    """The trained non-network parts: reference face, mesh, feature scaling, planarity fallback, gate."""

    mesh: FaceMesh
    feature_mean: npt.NDArray[np.float32]
    feature_std: npt.NDArray[np.float32]
    planarity_coef: npt.NDArray[np.float64]
    planarity_intercept: float
    min_pose_deg: float
    min_rotation_deg: float
    version: str

    @classmethod
    def load(cls, path: Path) -> GeometryArtifact:
        with np.load(path) as z:
            return cls(
                mesh=FaceMesh.build(z["reference"], z["triangles"]),
                feature_mean=z["feature_mean"].astype(np.float32),
                feature_std=z["feature_std"].astype(np.float32),
                planarity_coef=z["planarity_coef"].astype(np.float64),
                planarity_intercept=float(z["planarity_intercept"]),
                min_pose_deg=float(z["min_pose_deg"]),
                min_rotation_deg=float(z["min_rotation_deg"]),
                version=str(z["version"]),
            )

    def save(self, path: Path) -> None:
        """The npz that `load` reads (plain arrays, no pickles)."""
        np.savez(
            path,
            version=np.array(self.version),
            reference=self.mesh.reference,
            triangles=self.mesh.triangles,
            feature_mean=self.feature_mean,
            feature_std=self.feature_std,
            planarity_coef=self.planarity_coef,
            planarity_intercept=np.array(self.planarity_intercept),
            min_pose_deg=np.array(self.min_pose_deg),
            min_rotation_deg=np.array(self.min_rotation_deg),
        )

    def standardise(self, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Features (one clip's vector, or one row per clip) on the training set's scale."""
        return ((features - self.feature_mean) / self.feature_std).astype(np.float32)

    def planarity_scores(self, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """P(live) from the analytic features alone (logistic regression), one per row of `features`."""
        z = self.standardise(features) @ self.planarity_coef + self.planarity_intercept
        return np.asarray(1.0 / (1.0 + np.exp(-z)), np.float64)

    def planarity_score(self, features: npt.NDArray[np.float32]) -> float:
        """P(live) of one clip's feature vector."""
        return float(self.planarity_scores(features[None, :])[0])


class Voxel3dModel:
    """The voxel3d liveness test (satisfies liveness.types.LivenessModel)."""

    def __init__(self, settings: Voxel3dSettings) -> None:
        self._settings = settings
        self._geometry = GeometryArtifact.load(settings.geometry_path)
        self._min_pose_deg = (
            settings.min_pose_deg if settings.min_pose_deg is not None else self._geometry.min_pose_deg
        )
        self._min_rotation_deg = (
            settings.min_rotation_deg
            if settings.min_rotation_deg is not None
            else self._geometry.min_rotation_deg
        )
        # The factorisation's SVDs are small (2F x 68): BLAS threads only wait for each other, and on a busy
        # machine a waiting OpenBLAS thread spins. Through the stack a 24-frame clip cost voxel3d 98-138 ms of
        # CPU with two BLAS threads (65 % of it in svd) for a check of 7 ms on one thread. The limit holds for
        # the process (the service runs nothing else), as k8s's OMP_NUM_THREADS=1 does.
        threadpool_limits(limits=settings.threads, user_api="blas")
        self._session = None
        if settings.scorer == "cnn":
            from liveness.onnx import load_session

            self._session = load_session(settings.model_path, settings.threads)

    @property
    def info(self) -> TestInfo:
        s = self._settings
        return TestInfo(
            name="voxel3d",
            version=self._geometry.version,
            accepts_image=False,
            accepts_clip=True,
            min_frames=s.min_frames,
            max_frames=s.max_frames,
            recommended_threshold=s.threshold,
            needs_face=True,
            model_card=(
                "3D structure from landmark motion (affine factorisation); scored by "
                + ("a Conv3D net on 32^3 voxels" if s.scorer == "cnn" else "a planarity logistic")
                + f"; flags flat prints. Needs >= {s.min_frames} frames with >= "
                f"{self._min_pose_deg:g} deg of head rotation or >= {self._min_rotation_deg:g} deg of tilt "
                "(else LOW_QUALITY). Screen replays of a moving face look 3D to it. Research-grade."
            ),
        )

    def check(self, media: Media, faces: Sequence[FaceObservation], options: CheckOptions) -> TestResult:
        """P(live) of a clip from its per-frame landmarks; statuses for too few faces or too little motion."""
        s = self._settings
        usable = [
            i
            for i, obs in enumerate(faces)
            if obs.status is Status.OK and obs.face is not None and obs.face.landmarks is not None
        ]
        if len(usable) < s.min_frames:
            counts = Counter(obs.status for obs in faces if obs.status is not Status.OK)
            status = counts.most_common(1)[0][0] if counts else Status.LOW_QUALITY
            return TestResult(
                score=0.5,
                status=status,
                detail=(
                    f"a single face with landmarks in {len(usable)} of {len(faces)} frames; "
                    f"need {s.min_frames}"
                ),
            )
        chosen = [usable[i] for i in evenly_spaced(len(usable), s.max_frames)]
        tracks = []
        for i in chosen:
            face = faces[i].face
            assert face is not None and face.landmarks is not None  # `usable` holds only such frames
            tracks.append(face.landmarks)
        points = np.stack(tracks).astype(np.float64)
        try:
            inputs = clip_inputs(points, self._geometry.mesh)
        except (ValueError, np.linalg.LinAlgError):
            return TestResult(score=0.5, status=Status.LOW_QUALITY, detail="degenerate landmark tracks")
        structure = inputs.structure
        detail = (
            f"{len(chosen)} frames, head rotation {structure.pose_range_deg:.1f} deg, "
            f"relief {structure.relief:.2f}"
        )
        if (
            structure.pose_range_deg < self._min_pose_deg
            and structure.rotation_range_deg < self._min_rotation_deg
        ):
            return TestResult(
                score=0.5,
                status=Status.LOW_QUALITY,
                detail=(
                    f"too little motion to see depth: {detail}, tilt {structure.rotation_range_deg:.1f} "
                    f"deg; need {self._min_pose_deg:g} deg of head rotation or "
                    f"{self._min_rotation_deg:g} deg of tilt"
                ),
            )
        planarity = self._geometry.planarity_score(inputs.features)
        if self._session is None:
            return TestResult(score=planarity, detail=f"{detail}, planarity score {planarity:.2f}")
        score = self._run(inputs.voxels[None], inputs.features[None])[0]
        return TestResult(score=score, detail=f"{detail}, planarity score {planarity:.2f}")

    def _run(self, voxels: npt.NDArray[np.float32], features: npt.NDArray[np.float32]) -> list[float]:
        assert self._session is not None
        out = self._session.run(
            None,
            {
                "voxels": voxels[..., None].astype(np.float32),
                "features": self._geometry.standardise(features),
            },
        )[0]
        return [float(np.clip(v, 0.0, 1.0)) for v in out[:, 0]]

    def warmup(self) -> None:
        """One factorisation and one inference on a synthetic turning face."""
        from voxel3d import synth

        rng = np.random.default_rng(0)
        track = synth.synth_track("live", self._geometry.mesh.reference, 16, rng, amplitude_deg=15.0)
        inputs = clip_inputs(track, self._geometry.mesh)
        if self._session is not None:
            self._run(inputs.voxels[None], inputs.features[None])
