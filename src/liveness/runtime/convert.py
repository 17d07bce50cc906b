"""Proto messages <-> domain values. Proto messages stop here; model code sees only liveness.types."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

import numpy as np

from liveness.errors import InvalidInput
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
    TestAnswer,
    TestInfo,
    TestResult,
)
from liveness.v1 import liveness_pb2 as pb
from liveness.vision.decode import (
    MediaLimits,
    decode_frames,
    decode_image,
    decode_small_image,
    frames_on_demand,
)


def media_kind(media: pb.Media) -> str:
    """ "image" or "clip"; InvalidInput when neither is set."""
    kind = media.WhichOneof("kind")
    if kind is None:
        raise InvalidInput("media: set either image or clip")
    return kind


def clip_pairs(media: pb.Media) -> list[tuple[bytes, int]]:
    """(encoded bytes, timestamp_ms) per frame of an image (one pair) or a clip."""
    if media_kind(media) == "image":
        return [(media.image.data, 0)]
    return [(f.image.data, f.timestamp_ms) for f in media.clip.frames]


# Error messages name the offending field by its path in the request, as written in the proto (snake_case).
IMAGE_FIELD = "media.image.data"
REFERENCE_FIELD = "reference.data"


def decode_media(
    media: pb.Media, limits: MediaLimits, keep: Sequence[int] | None = None, on_demand: bool = False
) -> Media:
    """Validate and decode request media; `keep` selects frame indexes of a clip (after validation).

    `on_demand` (or `keep`): every frame of a clip is checked from its header, and the frames kept are
    decoded when first read (liveness.vision.decode.frames_on_demand); a frame left out or never read is
    not decoded, but a clip with a broken header or an odd-sized frame is still refused.
    """
    if media_kind(media) == "image":
        return _image_media(decode_image(media.image.data, limits, what=IMAGE_FIELD))
    pairs = clip_pairs(media)
    if keep is None and not on_demand:
        return decode_frames(pairs, limits)
    if keep is None:
        return frames_on_demand(pairs, limits)
    return frames_on_demand([pairs[i] for i in keep], limits, indexes=keep, clip=pairs)


def decode_small_media(media: pb.Media, limits: MediaLimits, max_pixels: int) -> Media | None:
    """decode_media for a single image of at most `max_pixels` pixels; None for bigger images and clips.

    Data that fails the header checks raises InvalidInput here, as decode_media would.
    """
    if media.WhichOneof("kind") != "image":
        return None
    image = decode_small_image(media.image.data, max_pixels, limits, what=IMAGE_FIELD)
    return None if image is None else _image_media(image)


def _image_media(image: RGBImage) -> Media:
    return Media(frames=(image,), timestamps_ms=(0,), is_clip=False)


def faces_from_proto(regions: Iterable[pb.FaceRegion]) -> list[FaceObservation]:
    out = []
    for r in regions:
        face = None
        if r.HasField("box"):
            lm = None
            if len(r.landmarks):
                lm = np.array([(p.x, p.y) for p in r.landmarks], dtype=np.float32)
            face = Face(box=Box(r.box.left, r.box.top, r.box.right, r.box.bottom), landmarks=lm)
        out.append(FaceObservation(frame_index=r.frame_index, count=r.face_count, face=face))
    return out


def faces_to_proto(observations: Iterable[FaceObservation], landmarks: bool = True) -> list[pb.FaceRegion]:
    """FaceRegion messages of `observations`; `landmarks` False: boxes and counts only."""
    out = []
    for obs in observations:
        region = pb.FaceRegion(frame_index=obs.frame_index, face_count=obs.count)
        if obs.face is not None:
            b = obs.face.box
            region.box.CopyFrom(pb.Box(left=b.left, top=b.top, right=b.right, bottom=b.bottom))
            if landmarks and obs.face.landmarks is not None:
                region.landmarks.extend(pb.Point(x=float(x), y=float(y)) for x, y in obs.face.landmarks)
        out.append(region)
    return out


def actions_from_proto(challenge: pb.Challenge) -> tuple[Action, ...]:
    actions: list[Action] = []
    for value in challenge.actions:
        name = pb.Action.Name(value) if value in pb.Action.values() else ""
        if not name or value == pb.ACTION_UNSPECIFIED:
            raise InvalidInput(f"challenge.actions[{len(actions)}]: action {value} is not a known action")
        actions.append(Action[name.removeprefix("ACTION_")])
    return tuple(actions)


def action_to_proto(action: Action) -> pb.Action:
    return cast(pb.Action, pb.Action.Value("ACTION_" + action.name))


def options_from_proto(
    challenge: pb.Challenge, reference: pb.Image, has_reference: bool, limits: MediaLimits
) -> CheckOptions:
    ref = decode_image(reference.data, limits, what=REFERENCE_FIELD) if has_reference else None
    return CheckOptions(challenge=actions_from_proto(challenge), reference=ref)


def status_to_proto(status: Status) -> pb.Status:
    return cast(pb.Status, pb.Status.Value("STATUS_" + status.name))


def status_from_proto(value: int) -> Status:
    return Status[pb.Status.Name(value).removeprefix("STATUS_")]


def check_response(info: TestInfo, result: TestResult, latency_ms: float) -> pb.CheckResponse:
    return answer_to_proto(
        TestAnswer(
            test=info.name,
            version=info.version,
            status=result.status,
            score=result.score,
            detail=result.detail,
            latency_ms=latency_ms,
            challenge=result.challenge,
        )
    )


def action_results_to_proto(results: Iterable[ActionResult]) -> list[pb.ActionResult]:
    return [
        pb.ActionResult(
            action=action_to_proto(r.action),
            satisfied=r.satisfied,
            frame_index=r.frame_index,
            confidence=r.confidence,
        )
        for r in results
    ]


def answer_to_proto(answer: TestAnswer) -> pb.CheckResponse:
    return pb.CheckResponse(
        test=answer.test,
        model_version=answer.version,
        score=answer.score,
        status=status_to_proto(answer.status),
        detail=answer.detail,
        latency_ms=answer.latency_ms,
        challenge_results=action_results_to_proto(answer.challenge),
    )


# A test's reply names statuses and actions by number; these are the numbers this side knows.
_STATUS_OF = {v: Status[pb.Status.Name(v).removeprefix("STATUS_")] for v in pb.Status.values() if v}
_ACTION_OF = {v: Action[pb.Action.Name(v).removeprefix("ACTION_")] for v in pb.Action.values() if v}


def answer_from_proto(msg: pb.CheckResponse) -> TestAnswer:
    """A test's reply as the gateway reads it. The reply is not the client's input, so what cannot be read
    raises nothing: a status this side does not know (STATUS_UNSPECIFIED, a newer value) becomes ERROR with
    the reason in front of the detail, and challenge results naming an unknown action are left out (the
    challenge then counts as unverified)."""
    status, detail = _STATUS_OF.get(msg.status), msg.detail
    if status is None:
        status = Status.ERROR
        why = f"the test answered status {msg.status}, which is not a known status"
        detail = f"{why}; {detail}" if detail else why
    results = msg.challenge_results
    challenge: tuple[ActionResult, ...] = ()
    if results and all(r.action in _ACTION_OF for r in results):
        challenge = tuple(
            ActionResult(_ACTION_OF[r.action], r.satisfied, r.frame_index, r.confidence) for r in results
        )
    return TestAnswer(
        test=msg.test,
        version=msg.model_version,
        status=status,
        score=msg.score,
        detail=detail,
        latency_ms=msg.latency_ms,
        challenge=challenge,
    )


def info_to_proto(info: TestInfo) -> pb.TestInfo:
    return pb.TestInfo(
        name=info.name,
        version=info.version,
        accepts_image=info.accepts_image,
        accepts_clip=info.accepts_clip,
        min_frames=info.min_frames,
        max_frames=info.max_frames,
        recommended_threshold=info.recommended_threshold,
        needs_face=info.needs_face,
        model_card=info.model_card,
        supported_actions=[action_to_proto(a) for a in info.supported_actions],
        face_box_only=info.face_box_only,
        clip_landmarks=info.clip_landmarks,
    )


def info_from_proto(msg: pb.TestInfo) -> TestInfo:
    return TestInfo(
        name=msg.name,
        version=msg.version,
        accepts_image=msg.accepts_image,
        accepts_clip=msg.accepts_clip,
        min_frames=msg.min_frames,
        max_frames=msg.max_frames,
        recommended_threshold=msg.recommended_threshold,
        needs_face=msg.needs_face,
        model_card=msg.model_card,
        supported_actions=tuple(
            Action[pb.Action.Name(a).removeprefix("ACTION_")] for a in msg.supported_actions if a
        ),
        face_box_only=msg.face_box_only,
        clip_landmarks=msg.clip_landmarks,
    )
