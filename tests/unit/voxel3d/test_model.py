"""Voxel3dModel with hermetic artifacts: statuses, gating, scorers, settings; then the committed model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liveness.types import CheckOptions, Media, Status
from tests.unit.voxel3d.conftest import clip_of
from voxel3d import geometry, synth
from voxel3d.model import GEOMETRY_FILE, MODEL_FILE, GeometryArtifact, Voxel3dModel, Voxel3dSettings

MODELS = Path(__file__).resolve().parents[3] / "services" / "voxel3d" / "models"


@pytest.fixture(scope="module")
def model(tiny_onnx: Path, geometry_npz: Path) -> Voxel3dModel:
    return Voxel3dModel(Voxel3dSettings(model_path=tiny_onnx, geometry_path=geometry_npz, scorer="cnn"))


def _track(
    kind: str, reference: np.ndarray, amplitude_deg: float, seed: int = 0, frames: int = 16
) -> np.ndarray:
    return synth.synth_track(
        kind, reference, frames, np.random.default_rng(seed), amplitude_deg=amplitude_deg
    )


def test_info_takes_clips_not_images(model: Voxel3dModel) -> None:
    info = model.info
    assert info.name == "voxel3d" and info.needs_face
    assert info.accepts_clip and not info.accepts_image
    one = Media(frames=(np.zeros((8, 8, 3), np.uint8),), timestamps_ms=(0,), is_clip=False)
    assert not info.accepts(one)
    short = Media(frames=(np.zeros((8, 8, 3), np.uint8),) * 3, timestamps_ms=(0, 1, 2), is_clip=True)
    assert not info.accepts(short)
    assert "LOW_QUALITY" in info.model_card


def test_turning_face_gets_a_verdict(model: Voxel3dModel, reference: np.ndarray) -> None:
    media, faces = clip_of(_track("live", reference, 25.0))
    result = model.check(media, faces, CheckOptions())
    assert result.status is Status.OK, result.detail
    assert 0.0 <= result.score <= 1.0
    assert "head rotation" in result.detail


def test_still_face_is_low_quality(model: Voxel3dModel, reference: np.ndarray) -> None:
    settings = synth.SynthSettings(noise_px=(0.3, 0.3))
    track = synth.synth_track("live", reference, 16, np.random.default_rng(1), settings, amplitude_deg=0.0)
    media, faces = clip_of(track)
    result = model.check(media, faces, CheckOptions())
    assert result.status is Status.LOW_QUALITY
    assert "too little motion" in result.detail


@pytest.mark.parametrize(
    ("missing", "status"),
    [
        (tuple(range(10)), Status.NO_FACE),  # 6 of 16 frames with a face, fewer than min_frames
        ((), Status.OK),
        ((0, 5, 9), Status.OK),  # frames without a face are skipped, enough remain
    ],
)
def test_frames_without_faces(
    model: Voxel3dModel, reference: np.ndarray, missing: tuple[int, ...], status: Status
) -> None:
    media, faces = clip_of(_track("live", reference, 25.0), missing=missing)
    assert model.check(media, faces, CheckOptions()).status is status


def test_planarity_fallback_needs_no_onnx(geometry_npz: Path, reference: np.ndarray, tmp_path: Path) -> None:
    fallback = Voxel3dModel(
        Voxel3dSettings(model_path=tmp_path / "absent.onnx", geometry_path=geometry_npz, scorer="planarity")
    )
    fallback.warmup()
    live = fallback.check(*clip_of(_track("live", reference, 25.0, seed=2)), CheckOptions())
    flat = fallback.check(*clip_of(_track("print", reference, 35.0, seed=2)), CheckOptions())
    assert live.status is Status.OK and flat.status is Status.OK, (live.detail, flat.detail)
    assert live.score > 0.5 > flat.score  # the fixture's fallback reads the relief feature


def test_warmup_runs(model: Voxel3dModel) -> None:
    model.warmup()


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({}, "scorer", "cnn"),
        ({"VOXEL3D_SCORER": "planarity"}, "scorer", "planarity"),
        ({"VOXEL3D_THREADS": "2"}, "threads", 2),
        ({"VOXEL3D_MIN_POSE_DEG": "6.5"}, "min_pose_deg", 6.5),
        ({"VOXEL3D_MIN_ROTATION_DEG": ""}, "min_rotation_deg", None),
        ({"VOXEL3D_MODEL_PATH": "elsewhere.onnx"}, "model_path", Path("elsewhere.onnx")),
    ],
)
def test_settings_from_env(env: dict[str, str], field: str, value: object) -> None:
    assert getattr(Voxel3dSettings.from_env(env), field) == value


@pytest.mark.parametrize(
    "env",
    [
        {"VOXEL3D_SCORER": "vrn"},
        {"VOXEL3D_THREADS": "0"},
        {"VOXEL3D_THREADS": "two"},
        {"VOXEL3D_MIN_FRAMES": "2"},
        {"VOXEL3D_MIN_FRAMES": "40", "VOXEL3D_MAX_FRAMES": "32"},
        {"VOXEL3D_MIN_POSE_DEG": "120"},
        {"VOXEL3D_THRESHOLD": "1.5"},
    ],
)
def test_bad_settings_fail_at_start_up(env: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        Voxel3dSettings.from_env(env)


@pytest.mark.skipif(
    not (MODELS / MODEL_FILE).exists(), reason="the trained voxel3d artifacts are not present"
)
@pytest.mark.parametrize("scorer", ["planarity", "cnn"])
def test_committed_model_separates_turning_faces_from_tilting_prints(scorer: str) -> None:
    """The shipped model on fresh synthetic clips: turning faces score live, tilting prints score spoof."""
    trained = Voxel3dModel(Voxel3dSettings(scorer=scorer))
    reference = np.load(MODELS / GEOMETRY_FILE)["reference"]
    live, spoof = [], []
    for seed in range(10):
        for kind, scores in (("live", live), ("print", spoof), ("bent", spoof)):
            result = trained.check(
                *clip_of(_track(kind, reference, 30.0, seed=100 + seed, frames=24)), CheckOptions()
            )
            if result.status is Status.OK:
                scores.append(result.score)
    assert len(live) >= 8 and len(spoof) >= 8
    assert np.mean(np.array(live) >= 0.5) >= 0.8
    assert np.mean(np.array(spoof) < 0.5) >= 0.8


def test_geometry_artifact_round_trip_and_batch_scores(geometry_npz: Path, tmp_path: Path) -> None:
    art = GeometryArtifact.load(geometry_npz)
    art.save(tmp_path / "again.npz")
    back = GeometryArtifact.load(tmp_path / "again.npz")
    np.testing.assert_array_equal(back.mesh.reference, art.mesh.reference)
    np.testing.assert_array_equal(back.mesh.triangles, art.mesh.triangles)
    np.testing.assert_array_equal(back.planarity_coef, art.planarity_coef)
    assert (back.planarity_intercept, back.min_pose_deg, back.min_rotation_deg, back.version) == (
        -1.0,
        4.0,
        25.0,
        "test",
    )
    rows = np.random.default_rng(3).normal(size=(6, geometry.N_FEATURES)).astype(np.float32)
    batch = art.planarity_scores(rows)
    # The fixture's logistic: sigmoid(10 * feature 3 - 1) on unit scaling.
    np.testing.assert_allclose(batch, 1.0 / (1.0 + np.exp(-(10.0 * rows[:, 3] - 1.0))), rtol=1e-6)
    assert [art.planarity_score(r) for r in rows] == pytest.approx(batch.tolist(), rel=1e-12)
