"""The one LivenessTest servicer every test service runs: validate, find faces, call the model, answer.

Per-service code supplies only a pure model (liveness.types.LivenessModel); everything about the transport
(decoding limits, face regions, NOT_APPLICABLE routing, request ids, latency) is done once, here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import grpc

from liveness.errors import InvalidInput, ModelNotReady
from liveness.runtime import convert, tracing
from liveness.types import FaceObservation, LivenessModel, Status, TestResult
from liveness.v1 import liveness_pb2 as pb
from liveness.v1 import liveness_pb2_grpc as pb_grpc
from liveness.vision import face, track
from liveness.vision.decode import MediaLimits
from liveness.vision.frames import evenly_spaced

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["LivenessTest"].full_name


class TestServicer(pb_grpc.LivenessTestServicer):
    """Adapts LivenessTest.Check/Describe to a LivenessModel; holds no ML logic."""

    __test__ = False  # not a pytest test class

    def __init__(self, model: LivenessModel, executor: ThreadPoolExecutor, limits: MediaLimits) -> None:
        self._model = model
        self._executor = executor
        self._limits = limits

    async def Check(self, request: pb.CheckRequest, context: grpc.aio.ServicerContext) -> pb.CheckResponse:
        start = time.perf_counter()
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._executor, tracing.traced(self._check, "check"), request)
        return convert.check_response(self._model.info, result, (time.perf_counter() - start) * 1000.0)

    async def Describe(self, request: pb.DescribeRequest, context: grpc.aio.ServicerContext) -> pb.TestInfo:
        return convert.info_to_proto(self._model.info)

    def _check(self, request: pb.CheckRequest) -> TestResult:
        """All blocking work, in a worker thread: decode, faces, model."""
        info = self._model.info
        kind = convert.media_kind(request.media)
        n_frames = len(request.media.clip.frames) if kind == "clip" else 1
        keep = None
        if kind == "clip" and n_frames > max(info.max_frames, 1) and n_frames <= self._limits.max_frames:
            keep = evenly_spaced(n_frames, max(info.max_frames, 1))
        # With the gateway's faces a model may read only some frames (voxel3d: none): decode on demand.
        on_demand = info.needs_face and len(request.faces) > 0
        media = convert.decode_media(request.media, self._limits, keep, on_demand=on_demand)
        options = convert.options_from_proto(
            request.challenge, request.reference, request.HasField("reference"), self._limits
        )
        if not info.accepts(media):
            what = f"a clip of {len(media)} frames" if media.is_clip else "a single image"
            needs = f"a clip of at least {info.min_frames} frames" if info.accepts_clip else "a single image"
            return TestResult(0.0, Status.NOT_APPLICABLE, f"{info.name} needs {needs}, got {what}")
        faces: list[FaceObservation] = []
        if info.needs_face:
            if len(request.faces):
                faces = _supplied_faces(request.faces, n_frames, keep)
                face.validate_observations(faces, media)
            else:  # called directly: a clip is detected on its keyframe and tracked (vision.track)
                with tracing.span("face detection"):
                    faces = (
                        track.track(media.frames)
                        if media.is_clip
                        else face.observe_media(media, with_landmarks=not info.face_box_only)
                    )
        return self._model.check(media, faces, options)


def _supplied_faces(
    regions: Sequence[pb.FaceRegion], n_frames: int, keep: Sequence[int] | None
) -> list[FaceObservation]:
    """The gateway's regions, one per sent frame, narrowed to the frames kept and renumbered."""
    observations = convert.faces_from_proto(regions)
    if len(observations) != n_frames:
        raise InvalidInput(
            f"faces: {len(observations)} face regions for {n_frames} frames; send one per frame"
        )
    for i, obs in enumerate(observations):
        if obs.frame_index != i:
            raise InvalidInput(f"faces[{i}].frame_index: {obs.frame_index}; expected {i}")
    if keep is None:
        return observations
    return [replace(observations[i], frame_index=j) for j, i in enumerate(keep)]


class TestApp:
    """A LivenessTest service: loads the model in a worker thread at start, then serves it."""

    __test__ = False  # not a pytest test class

    def __init__(self, name: str, model_factory: Callable[[], LivenessModel], limits: MediaLimits) -> None:
        self.name = name
        self._factory = model_factory
        self._limits = limits
        self._servicer: TestServicer | None = None
        self.model: LivenessModel | None = None

    @property
    def service_names(self) -> tuple[str, ...]:
        return (SERVICE_NAME,)

    def register(self, server: grpc.aio.Server) -> None:
        pb_grpc.add_LivenessTestServicer_to_server(_Deferred(self), server)

    async def start(self, executor: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        model = await loop.run_in_executor(executor, self._factory)
        if model.info.name != self.name:
            raise ValueError(f"model reports test name {model.info.name!r}, expected {self.name!r}")
        if model.info.needs_face:
            await loop.run_in_executor(executor, face.load)
        await loop.run_in_executor(executor, model.warmup)
        self.model = model
        self._servicer = TestServicer(model, executor, self._limits)

    async def close(self) -> None:
        self._servicer = None
        self.model = None

    @property
    def servicer(self) -> TestServicer:
        if self._servicer is None:
            raise ModelNotReady(f"{self.name}: model not loaded yet")
        return self._servicer


class _Deferred(pb_grpc.LivenessTestServicer):
    """Registered before the model loads (so health answers at once); calls then get UNAVAILABLE."""

    def __init__(self, app: TestApp) -> None:
        self._app = app

    async def Check(self, request: pb.CheckRequest, context: grpc.aio.ServicerContext) -> pb.CheckResponse:
        return await self._app.servicer.Check(request, context)

    async def Describe(self, request: pb.DescribeRequest, context: grpc.aio.ServicerContext) -> pb.TestInfo:
        return await self._app.servicer.Describe(request, context)
