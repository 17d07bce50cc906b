"""Liveness.Describe: the limits, budget and tests a client must respect, as this gateway enforces them."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.config import Endpoint, GatewayConfig
from liveness.runtime import convert
from liveness.types import TestInfo
from liveness.v1 import liveness_pb2 as pb
from liveness.vision.decode import MediaLimits


def describe(
    config: GatewayConfig,
    limits: MediaLimits,
    max_message_bytes: int,
    tests: Sequence[tuple[Endpoint, TestInfo | None, str]],
    sessions_enabled: bool,
) -> pb.LivenessDescribeResponse:
    """The answer for `tests`: each endpoint, its last Describe answer (None: never reached) and why not."""
    clip_tests = [info for _, info, _ in tests if info is not None and info.accepts_clip]
    used = [max(info.max_frames, 1) for _, info, _ in tests if info is not None]
    return pb.LivenessDescribeResponse(
        config_version=config.version,
        limits=pb.MediaLimits(
            max_image_bytes=limits.max_image_bytes,
            max_pixels=limits.max_pixels,
            min_side=limits.min_side,
            max_frames=limits.max_frames,
            max_message_bytes=max_message_bytes,
        ),
        budget_ms=config.budget_ms,
        margin_ms=config.margin_ms,
        tests=[
            pb.GatewayTest(
                name=ep.name,
                weight=ep.weight,
                available=info is not None,
                info=convert.info_to_proto(info) if info is not None else None,
                detail="" if info is not None else error,
            )
            for ep, info, error in tests
        ],
        min_clip_frames=max((max(i.min_frames, 1) for i in clip_tests), default=0),
        clip_frames_used=min(max(used, default=1), limits.max_frames),
        sessions_enabled=sessions_enabled,
        session_required=sessions_enabled and config.sessions.required,
        live_threshold=config.thresholds.live,
        spoof_threshold=config.thresholds.spoof,
    )
