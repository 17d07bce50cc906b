"""The face geometry of one Evaluate, made in the shared executor and handed to test calls frame by frame.

One job detects the keyframe (the frame image tests score), trying the frame turned by 90 degrees either way
when nothing is found upright (liveness.vision.face.observe_upright); when only a turn shows the face, the
whole clip is turned, and the tests get the turned frames. A clip's keyframe without an upright face first
gives way to the nearest frame with one (`_upright_beside`), before any turn is tried. Two more jobs then
follow the face from the keyframe forwards and backwards (liveness.vision.track), so the frames near the
keyframe are ready first and both cores can work on one clip. Test calls wait for the frames they need, but
only until a cutoff: then they get the frames that are ready (a shorter clip) instead of nothing, and the
tracking stops (stop_tracking).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import simplejpeg

from liveness.runtime import convert, tracing
from liveness.types import FaceObservation, Media, Status
from liveness.v1 import liveness_pb2 as pb
from liveness.vision import face, track

TURNED_JPEG_QUALITY = 95  # turned frames are re-encoded for the tests at this quality
KEYFRAME_NEIGHBOURS = 2  # frames searched upright when a clip's keyframe shows no upright face


class FaceJob:
    """Observations of `frames` of `media`, filled in as the executor makes them."""

    def __init__(
        self,
        media: Media,
        frames: Sequence[int],
        keyframe: int,
        executor: ThreadPoolExecutor,
        detector: face.DetectorSettings = face.DEFAULT_DETECTOR,
        tracking: track.TrackSettings = track.DEFAULT_TRACK,
        landmarks: bool = True,
    ) -> None:
        self.media = media
        self.frames = tuple(sorted(set(frames)))
        self.keyframe = keyframe
        self.turns = 0  # quarter turns (numpy.rot90) applied to every frame of `media`
        self.ready: dict[int, FaceObservation] = {}
        self.error: BaseException | None = None
        self._executor = executor
        self._detector = detector
        self._tracking = tracking
        self._landmarks = landmarks  # False (an image whose tests read boxes only): the keyframe's box alone
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._stopped = threading.Event()
        self._tracking_stopped = threading.Event()
        self._jobs: list[Future[None]] = [
            executor.submit(tracing.traced(self._run_keyframe, "face detection"))
        ]
        self._encoded: dict[int, bytes] = {}
        self._regions: dict[tuple[int, bool], pb.FaceRegion] = {}  # (frame, with landmarks): converted once

    @property
    def done(self) -> bool:
        return self.error is not None or len(self.ready) == len(self.frames)

    def stop_tracking(self) -> None:
        """Stop following the face into frames not ready yet (a keyframe detection already running finishes).

        For the cutoff: test calls wait for their frames until then and take what is ready, so frames tracked
        later reach no test. Under overload the tracking of a clip whose tests already gave up would otherwise
        run on in the shared executor, ahead of the next clips' faces.
        """
        self._tracking_stopped.set()

    def _stopping(self) -> bool:
        return self._stopped.is_set() or self._tracking_stopped.is_set()

    def cancel(self) -> None:
        """Stop: jobs not started yet do nothing, running ones end after their current frame."""
        self._stopped.set()
        for job in self._jobs:
            job.cancel()

    async def wait(self, frames: Sequence[int], until: float) -> dict[int, FaceObservation]:
        """The observations of `frames` once all are ready, or those ready at `until` (time.monotonic).

        Raises what the face job raised, if it failed.
        """
        wanted = set(frames)
        while True:
            if self.error is not None:
                raise self.error
            if wanted <= self.ready.keys():
                break
            left = until - time.monotonic()
            if left <= 0:
                break
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), left)
            except TimeoutError:
                break
        return {i: self.ready[i] for i in frames if i in self.ready}

    def status(self, chosen: int) -> Status:
        """What was found in the chosen frame, else the keyframe, else the nearest ready frame.

        TIMEOUT when no frame is ready yet, ERROR when the job failed.
        """
        if self.error is not None:
            return Status.ERROR
        for index in (chosen, self.keyframe):
            if index in self.ready:
                return self.ready[index].status
        if not self.ready:
            return Status.TIMEOUT
        return self.ready[min(self.ready, key=lambda i: abs(i - chosen))].status

    def regions(self, indices: Sequence[int], landmarks: bool = True) -> list[pb.FaceRegion]:
        """The ready observations of `indices` as a test call's regions, numbered 0, 1, ... in that order;
        `landmarks` False: boxes only (a test that reads boxes only).

        Each frame is converted once per request however many tests get it (68 landmark messages each: a
        24-frame clip sent to four face tests made 64 conversions, about 9 ms of CPU)."""
        out = []
        for j, i in enumerate(indices):
            cached = self._regions.get((i, landmarks))
            if cached is None:
                cached = convert.faces_to_proto([self.ready[i]], landmarks=landmarks)[0]
                self._regions[(i, landmarks)] = cached
            region = pb.FaceRegion()
            region.CopyFrom(cached)
            region.frame_index = j
            out.append(region)
        return out

    async def frame_bytes(self, originals: Sequence[bytes], indices: Sequence[int]) -> list[bytes]:
        """The encoded frames the tests get: the client's own bytes, or the turned frames re-encoded."""
        if not self.turns:
            return [originals[i] for i in indices]
        missing = [i for i in indices if i not in self._encoded]
        if missing:
            encoded = await self._loop.run_in_executor(self._executor, self._encode, missing)
            self._encoded.update(zip(missing, encoded, strict=True))
        return [self._encoded[i] for i in indices]

    def _encode(self, indices: Sequence[int]) -> list[bytes]:
        return [
            simplejpeg.encode_jpeg(self.media.frames[i], quality=TURNED_JPEG_QUALITY, colorspace="RGB")
            for i in indices
        ]

    # --- executor side ---------------------------------------------------------------------------------

    def _publish(self, obs: FaceObservation) -> None:
        self._loop.call_soon_threadsafe(self._add, obs)

    def _add(self, obs: FaceObservation) -> None:
        self.ready[obs.frame_index] = obs
        self._wake()

    def _fail(self, exc: BaseException) -> None:
        self.error = exc
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _run_keyframe(self) -> None:
        if self._stopped.is_set():
            return
        try:
            frame = self.media.frames[self.keyframe]
            start = face.observe(frame, self.keyframe, self._detector, self._landmarks)
            no_face: set[int] = set()  # frames searched upright without a face
            if start.face is None:
                no_face.add(self.keyframe)
                if self.media.is_clip:
                    start = self._upright_beside(no_face) or start
            turns = 0
            if start.face is None:
                turned = face.observe_turned(frame, self.keyframe, self._detector, self._landmarks)
                if turned is not None:
                    turns, start = turned
            if turns:
                self.media = Media(
                    tuple(face.turn(f, turns) for f in self.media.frames),
                    self.media.timestamps_ms,
                    self.media.is_clip,
                )
                self.turns = turns
            # A turn changes every frame: what the upright searches found no longer applies.
            tracker = track.Tracker(
                self.media.frames, self._tracking, self._detector, () if turns else no_face
            )
            after, before = track.order_from(self.keyframe, self.frames)
            self._publish(start)
            for indices in (after, before):
                if indices and not self._stopping():
                    self._jobs.append(
                        self._executor.submit(
                            tracing.traced(self._run_chain, "face tracking"), tracker, start, indices
                        )
                    )
        except BaseException as exc:
            self._loop.call_soon_threadsafe(self._fail, exc)
            raise

    def _upright_beside(self, no_face: set[int]) -> FaceObservation | None:
        """For a clip whose keyframe shows no upright face: the first of the KEYFRAME_NEIGHBOURS searched
        frames nearest it that does, which becomes the keyframe (the tracking covers the old one), or None.
        Frames searched without a face are added to `no_face` (the tracker does not search them again).

        One frame of a clip often shows no face (a hand, motion blur, a turned head) while the frames beside
        it do: searching them upright first costs less than the keyframe's two turned searches (a 1080p
        frame of replay-dev: 13-74 ms against 258 ms for upright and turned together)."""
        beside = sorted(
            (i for i in self.frames if i != self.keyframe), key=lambda i: (abs(i - self.keyframe), i)
        )
        for i in beside[:KEYFRAME_NEIGHBOURS]:
            if self._stopped.is_set():
                return None
            obs = face.observe(self.media.frames[i], i, self._detector, self._landmarks)
            if obs.face is not None:
                self.keyframe = i
                return obs
            no_face.add(i)
        return None

    def _run_chain(self, tracker: track.Tracker, start: FaceObservation, indices: Sequence[int]) -> None:
        if self._stopping():
            return
        try:
            for obs in tracker.follow(start, indices, stop=self._stopping):
                self._publish(obs)
        except BaseException as exc:
            self._loop.call_soon_threadsafe(self._fail, exc)
            raise
