"""Servers for the eval/bench smoke tests: a test model and a gateway whose scores are image brightness."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from liveness.runtime.convert import decode_media
from liveness.types import CheckOptions, FaceObservation, Media, Status, TestInfo, TestResult
from liveness.v1 import liveness_pb2 as pb
from liveness.v1 import liveness_pb2_grpc as pb_grpc
from liveness.vision.decode import DEFAULT_LIMITS


def brightness(media: Media) -> float:
    """Mean pixel value of the middle frame over 255, in [0, 1]."""
    return float(media.image.mean()) / 255.0


@dataclass
class BrightnessModel:
    """A LivenessModel whose P(live) is the image brightness, so a test can predict every metric."""

    name: str = "bright"

    @property
    def info(self) -> TestInfo:
        return TestInfo(
            name=self.name,
            version="bright-1",
            accepts_image=True,
            accepts_clip=True,
            max_frames=16,
            needs_face=False,
            recommended_threshold=0.5,
            model_card="test double: score = brightness",
        )

    def check(self, media: Media, faces: Sequence[FaceObservation], options: CheckOptions) -> TestResult:
        return TestResult(brightness(media), Status.OK, "brightness")

    def warmup(self) -> None:
        return None


class BrightnessGateway(pb_grpc.LivenessServicer):
    """Gateway double: fused score = brightness; LIVE >= 0.6, UNCERTAIN in [0.45, 0.6), SPOOF below."""

    async def Evaluate(
        self, request: pb.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> pb.EvaluateResponse:
        try:
            media = decode_media(request.media, DEFAULT_LIMITS)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        score = brightness(media)
        if score >= 0.6:
            decision = pb.DECISION_LIVE
        elif score >= 0.45:
            decision = pb.DECISION_UNCERTAIN
        else:
            decision = pb.DECISION_SPOOF
        inner = pb.CheckResponse(test="bright", score=score, status=pb.STATUS_OK)
        return pb.EvaluateResponse(
            request_id=request.request_id,
            decision=decision,
            score=score,
            tests=[pb.TestResult(result=inner, weight=1.0, fused=True)],
        )


async def start_gateway() -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    pb_grpc.add_LivenessServicer_to_server(BrightnessGateway(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"
