"""Identity consistency across frames and against a reference, with a stand-in encoder and with dlib's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liveness.types import Box, Face
from temporal.identity import IdentityChecker, face_recognition_encoder

BOX = Box(10, 10, 50, 50)


def _encoder_by_mean(image: np.ndarray, box: Box) -> np.ndarray:
    """Stand-in embedding: the image's mean value on every axis (a brighter image is 'another person')."""
    return np.full(128, image.mean() / 255.0 / np.sqrt(128) * 4.0)


@pytest.mark.parametrize(
    ("levels", "consistent"),
    [
        ([100, 100, 100], True),
        ([100, 102, 101], True),
        ([100, 100, 160], False),  # 0.94 apart at the last frame
    ],
)
def test_frames_must_show_one_person(levels: list[int], consistent: bool) -> None:
    images = [np.full((64, 64, 3), v, np.uint8) for v in levels]
    result = IdentityChecker(_encoder_by_mean).check(images, [BOX] * len(images), [0, 5, 9])
    assert result.consistent is consistent
    assert result.frames == (0, 5, 9)
    assert result.reference_match is None


def test_reference_is_compared_with_every_encoded_frame() -> None:
    images = [np.full((64, 64, 3), 100, np.uint8)] * 2
    same = IdentityChecker(_encoder_by_mean).check(images, [BOX] * 2, [0, 1], (images[0], BOX))
    other = IdentityChecker(_encoder_by_mean).check(
        images, [BOX] * 2, [0, 1], (np.full((64, 64, 3), 200, np.uint8), BOX)
    )
    assert same.reference_match is True and same.reference_distance == pytest.approx(0.0)
    assert other.reference_match is False and other.reference_distance is not None
    with pytest.raises(ValueError):
        IdentityChecker(_encoder_by_mean, tolerance=0.0)


def test_dlib_embeddings_match_the_astronaut_with_herself(
    astronaut: np.ndarray, astronaut_face: Face
) -> None:
    b = astronaut_face.box
    shifted = np.ascontiguousarray(np.roll(astronaut, 12, axis=1))
    moved = Box(b.left + 12, b.top, b.right + 12, b.bottom)
    mirrored = np.ascontiguousarray(astronaut[:, ::-1])
    flipped_box = Box(astronaut.shape[1] - b.right, b.top, astronaut.shape[1] - b.left, b.bottom)
    result = IdentityChecker(face_recognition_encoder).check(
        [astronaut, shifted, mirrored], [b, moved, flipped_box], [0, 1, 2]
    )
    assert result.consistent
    assert result.max_distance < 0.45
    code = face_recognition_encoder(astronaut, b)
    assert code.shape == (128,)
    # A face-free patch of the same photo is far from her face.
    background = face_recognition_encoder(astronaut, Box(380, 380, 500, 500))
    assert np.linalg.norm(code - background) > 0.6


def test_resnet_port_gives_dlibs_own_descriptors(astronaut: np.ndarray, astronaut_face: Face) -> None:
    """temporal.face_resnet runs dlib's network from dlib's weight file: the descriptors dlib computes."""
    import dlib
    import face_recognition_models

    b = astronaut_face.box
    rect = dlib.rectangle(round(b.left), round(b.top), round(b.right), round(b.bottom))
    points = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
    reference = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
    shifted = np.ascontiguousarray(np.roll(astronaut, 7, axis=0))
    for image in (astronaut, shifted, np.ascontiguousarray(astronaut[:, ::-1])):
        shape = points(image, rect)
        want = np.array(reference.compute_face_descriptor(image, shape, 1))
        chip = dlib.get_face_chip(image, shape, size=150, padding=0.25)
        got = face_resnet_descriptors(np.asarray(chip)[None])[0]
        assert np.abs(got - want).max() < 1e-4
    assert (
        np.abs(
            face_recognition_encoder(astronaut, b)
            - face_resnet_descriptors(
                np.asarray(dlib.get_face_chip(astronaut, points(astronaut, rect), size=150, padding=0.25))[
                    None
                ]
            )[0]
        ).max()
        < 1e-6
    )


def face_resnet_descriptors(chips: np.ndarray) -> np.ndarray:
    from temporal.identity import _models

    return _models().net.descriptors(chips)


def test_dlib_files_that_are_not_the_face_network_are_refused() -> None:
    import face_recognition_models

    from temporal.face_resnet import read_dat

    with pytest.raises(ValueError, match="loss_metric_2"):
        read_dat(Path(face_recognition_models.pose_predictor_five_point_model_location()).read_bytes())
