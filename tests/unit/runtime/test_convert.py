"""A test's answer between its message and the domain value the gateway works on."""

from __future__ import annotations

import pytest

from liveness.runtime import convert
from liveness.types import Action, ActionResult, Status, TestAnswer, TestInfo, TestResult
from liveness.v1 import liveness_pb2 as pb

ANSWER = pb.CheckResponse(
    test="temporal",
    model_version="t-3",
    score=0.8125,
    status=pb.STATUS_OK,
    detail="seen",
    latency_ms=12.5,
    challenge_results=[
        pb.ActionResult(action=pb.ACTION_BLINK, satisfied=True, frame_index=3, confidence=0.75),
        pb.ActionResult(action=pb.ACTION_TURN_LEFT, satisfied=False, frame_index=-1),
    ],
)


def test_an_answer_survives_the_round_trip_unchanged() -> None:
    read = convert.answer_from_proto(ANSWER)
    assert read == TestAnswer(
        "temporal",
        "t-3",
        Status.OK,
        0.8125,
        "seen",
        12.5,
        (ActionResult(Action.BLINK, True, 3, 0.75), ActionResult(Action.TURN_LEFT, False, -1, 0.0)),
    )
    assert convert.answer_to_proto(read).SerializeToString() == ANSWER.SerializeToString()


def test_a_score_out_of_range_is_carried_as_sent() -> None:
    # Unlike TestResult, an answer does not judge the test's score (float32 on the wire).
    assert convert.answer_from_proto(pb.CheckResponse(score=1.5, status=pb.STATUS_OK)).score == 1.5


def test_the_services_reply_is_the_answer_message() -> None:
    info = TestInfo("temporal", "t-3", False, True)
    result = TestResult(0.8125, Status.OK, "seen", (ActionResult(Action.BLINK, True, 3, 0.75),))
    reply = convert.check_response(info, result, 12.5)
    assert (reply.test, reply.model_version, reply.score, reply.latency_ms) == (
        "temporal",
        "t-3",
        0.8125,
        12.5,
    )
    assert [(r.action, r.satisfied, r.frame_index) for r in reply.challenge_results] == [
        (pb.ACTION_BLINK, True, 3)
    ]


@pytest.mark.parametrize("status", [pb.STATUS_UNSPECIFIED, 99])
def test_an_unknown_status_reads_as_error(status: int) -> None:
    read = convert.answer_from_proto(pb.CheckResponse(test="x", score=0.9, status=status, detail="why"))  # type: ignore[arg-type]
    assert read.status is Status.ERROR
    assert read.detail == f"the test answered status {status}, which is not a known status; why"


@pytest.mark.parametrize("action", [pb.ACTION_UNSPECIFIED, 42])
def test_challenge_results_with_an_unknown_action_are_left_out(action: int) -> None:
    msg = pb.CheckResponse(status=pb.STATUS_OK, score=0.5)
    msg.challenge_results.add(action=pb.ACTION_BLINK, satisfied=True)
    msg.challenge_results.add(action=action, satisfied=True)  # type: ignore[arg-type]
    read = convert.answer_from_proto(msg)
    assert (read.status, read.score, read.challenge) == (Status.OK, 0.5, ())


def test_test_info_and_box_only_face_regions_round_trip() -> None:
    import numpy as np

    from liveness.types import Box, Face, FaceObservation

    actions = (Action.BLINK,)
    info = TestInfo(
        "texture", "t-2", True, False, face_box_only=True, clip_landmarks=True, supported_actions=actions
    )
    assert convert.info_from_proto(convert.info_to_proto(info)) == info
    old = convert.info_from_proto(pb.TestInfo(name="old"))  # a test before the fields
    assert (old.face_box_only, old.clip_landmarks) == (False, False)
    obs = [FaceObservation(0, 1, Face(Box(1.0, 2.0, 3.0, 4.0), np.ones((68, 2), np.float32)))]
    (full,) = convert.faces_to_proto(obs)
    (boxes,) = convert.faces_to_proto(obs, landmarks=False)
    assert len(full.landmarks) == 68 and len(boxes.landmarks) == 0 and boxes.box == full.box
    (read,) = convert.faces_from_proto([boxes])
    assert read.face is not None and read.face.landmarks is None and read.face.box == Box(1.0, 2.0, 3.0, 4.0)
