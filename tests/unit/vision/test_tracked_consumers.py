"""Every consumer of face geometry gives the same answer on tracked faces as on faces detected per frame.

The shipped models of cnn2d (face crops), temporal (blink, expression, identity, sequence) and voxel3d
(landmark tracks) score the sample clip with both kinds of observations; statuses match and scores stay
within 0.05. The flash check and challenge results are covered through the gateway (tests/integration).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from liveness.data.video import iter_frames
from liveness.types import CheckOptions, Media, Status
from liveness.vision import face, track

SAMPLE_CLIP = Path(__file__).resolve().parents[3] / "samples" / "astronaut_print_moved.mp4"


@pytest.fixture(scope="module")
def clip() -> Media:
    frames, stamps = [], []
    for _, frame, t_ms in iter_frames(SAMPLE_CLIP):
        frames.append(frame)
        stamps.append(t_ms)
    return Media(tuple(frames), tuple(stamps), is_clip=True)


def _model(name: str):  # type: ignore[no-untyped-def]
    if name == "cnn2d":
        from cnn2d.model import Cnn2dModel, Cnn2dSettings

        return Cnn2dModel(Cnn2dSettings.from_env({}))
    if name == "temporal":
        from temporal.model import TemporalModel, TemporalSettings

        return TemporalModel(TemporalSettings.from_env({}))
    from voxel3d.model import Voxel3dModel, Voxel3dSettings

    return Voxel3dModel(Voxel3dSettings.from_env({}))


# voxel3d sees too little head rotation in a print moved in its plane (LOW_QUALITY) either way.
@pytest.mark.parametrize(
    ("name", "status"), [("cnn2d", Status.OK), ("temporal", Status.OK), ("voxel3d", Status.LOW_QUALITY)]
)
def test_tracked_faces_score_like_detected_faces(clip: Media, name: str, status: Status) -> None:
    model = _model(name)
    detected = face.observe_media(clip)
    tracked = track.track(clip.frames)
    options = CheckOptions()
    by_detection = model.check(clip, detected, options)
    by_tracking = model.check(clip, tracked, options)
    assert by_tracking.status is by_detection.status is status, (by_detection, by_tracking)
    assert by_tracking.score == pytest.approx(by_detection.score, abs=0.05)
