"""Fixtures for the iqa test: synthetic grey images and a tiny artifact fitted in the fixture."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from iqa import quality
from iqa.model import ARTIFACT, IqaArtifact
from iqa.train import fit_lda, fit_niqe


@pytest.fixture(scope="session")
def camera() -> quality.Grey:
    """scikit-image's cameraman, 512x512 grey float32 (a natural photograph)."""
    return skimage.data.camera().astype(np.float32)


def _textures(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        base = cv2.resize(rng.uniform(0, 255, (30, 40)).astype(np.float32), (160, 120))
        out.append(np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8))
    return out


def synthetic_raws(n: int, seed: int) -> tuple[list[quality.RawFeatures], np.ndarray]:
    """Raw features of n sharp-grain (live) and n blurred-grain (spoof) 160x120 pictures, and the labels."""
    live = _textures(n, seed)
    spoof = [cv2.GaussianBlur(img, (0, 0), 1.5) for img in _textures(n, seed + 1)]
    raws = [quality.raw_features(img.astype(np.float32)) for img in live + spoof]
    return raws, np.array([True] * n + [False] * n)


def stub_biqi() -> quality.BiqiModel:
    """A fixed BIQI model (no synthetic-distortion fit): enough to give every image a BIQI feature."""
    return quality.BiqiModel(
        feature_mean=np.zeros(18),
        feature_scale=np.ones(18),
        class_coef=np.eye(4, 18),
        class_intercept=np.zeros(4),
        quality_coef=np.full((4, 18), 0.5),
        quality_intercept=np.full(4, 50.0),
    )


@pytest.fixture(scope="session")
def tiny_artifact_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An artifact fitted on 24 synthetic 160x120 images: sharp grain = live, blurred grain = spoof."""
    raws, is_live = synthetic_raws(12, 1)
    niqe = fit_niqe(raws, list(is_live))
    biqi = stub_biqi()
    x = np.stack([quality.combine(r, biqi, niqe) for r in raws])
    artifact = IqaArtifact(
        version="test-1", classifier=fit_lda(x, is_live), biqi=biqi, niqe=niqe, max_side=160, threshold=0.5
    )
    path = tmp_path_factory.mktemp("iqa") / ARTIFACT
    artifact.save(path)
    return path


@pytest.fixture(scope="session")
def sharp_rgb() -> np.ndarray:
    """A 160x120 RGB picture of sharp grain (what the tiny artifact calls live)."""
    grey = _textures(1, 7)[0]
    return np.repeat(grey[:, :, None], 3, axis=2)
