"""gateway.faces: the face search of one request, and the regions each test call gets."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest

from gateway.faces import FaceJob
from liveness.runtime import convert
from liveness.types import Media, Status


async def test_regions_are_each_frames_observation_renumbered_for_the_call(astronaut: np.ndarray) -> None:
    frames = tuple(np.ascontiguousarray(np.roll(astronaut, 3 * i, axis=1)) for i in range(6))
    media = Media(frames, tuple(40 * i for i in range(6)), is_clip=True)
    with ThreadPoolExecutor(2) as executor:
        job = FaceJob(media, range(6), 3, executor)
        ready = await job.wait(range(6), time.monotonic() + 30.0)
    assert sorted(ready) == list(range(6)) and all(o.status is Status.OK for o in ready.values())
    for picked in ([0, 2, 4], [5, 1], [3]):
        want = convert.faces_to_proto([replace(ready[i], frame_index=j) for j, i in enumerate(picked)])
        got = job.regions(picked)
        assert [r.SerializeToString() for r in got] == [r.SerializeToString() for r in want]
    # The cached regions are not changed by renumbering a copy for one call.
    assert [r.frame_index for r in job.regions([4, 0])] == [0, 1]
    assert job.regions([0])[0].landmarks[30].x == ready[0].face.landmarks[30][0]  # type: ignore[union-attr]


async def test_tracking_stops_at_the_cutoff_and_the_keyframe_still_counts(astronaut: np.ndarray) -> None:
    """After stop_tracking no frame beyond those ready is followed: under overload a clip whose tests took
    what was ready at the cutoff leaves the executor to the next clips."""
    frames = tuple(np.ascontiguousarray(np.roll(astronaut, 2 * i, axis=1)) for i in range(12))
    media = Media(frames, tuple(40 * i for i in range(12)), is_clip=True)
    with ThreadPoolExecutor(1) as executor:
        blocker = executor.submit(time.sleep, 0.3)  # the keyframe job queues behind other work
        job = FaceJob(media, range(12), 6, executor)
        job.stop_tracking()  # the cutoff passes while it waits
        blocker.result()
        ready = await job.wait([6], time.monotonic() + 30.0)
        assert ready[6].status is Status.OK  # the keyframe detection still ran (face_status, flash)
        await asyncio.sleep(0.3)
    assert sorted(job.ready) == [6] and not job.done and job.status(6) is Status.OK
    with ThreadPoolExecutor(2) as executor:  # without the cutoff the same clip is followed to both ends
        whole = FaceJob(media, range(12), 6, executor)
        assert sorted(await whole.wait(range(12), time.monotonic() + 30.0)) == list(range(12))


async def test_a_clip_keyframe_without_a_face_gives_way_to_the_frame_beside_it(
    astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One faceless frame at the keyframe (a hand, motion blur) costs a search of the frame beside it, not
    the two turned searches of the keyframe; the tracking still answers the old keyframe."""
    from liveness.vision import face

    turned: list[int] = []
    searched: list[int] = []  # face.observe calls by frame (the keyframe job's, the tracker's, the turns')
    real, real_observe = face.observe_turned, face.observe

    def counted(image, frame_index=0, *args, **kwargs):  # type: ignore[no-untyped-def]
        turned.append(frame_index)
        return real(image, frame_index, *args, **kwargs)

    def counted_observe(image, frame_index=0, *args, **kwargs):  # type: ignore[no-untyped-def]
        searched.append(frame_index)
        return real_observe(image, frame_index, *args, **kwargs)

    monkeypatch.setattr(face, "observe_turned", counted)
    monkeypatch.setattr(face, "observe", counted_observe)
    frames = [np.ascontiguousarray(np.roll(astronaut, 2 * i, axis=1)) for i in range(7)]
    frames[3] = np.zeros_like(astronaut)
    media = Media(tuple(frames), tuple(40 * i for i in range(7)), is_clip=True)
    with ThreadPoolExecutor(2) as executor:
        job = FaceJob(media, range(7), 3, executor)
        ready = await job.wait(range(7), time.monotonic() + 30.0)
    assert turned == [] and job.keyframe == 2 and job.turns == 0
    assert sorted(ready) == list(range(7)) and ready[2].status is Status.OK
    # The track from frame 2 is lost at frame 3, which is not searched again.
    assert ready[3].status is Status.NO_FACE and searched.count(3) == 1
    searched.clear()
    # A clip with no face anywhere still tries the keyframe's turns after the frames beside it.
    blank = Media(tuple(np.zeros_like(astronaut) for _ in range(5)), tuple(range(5)), is_clip=True)
    with ThreadPoolExecutor(2) as executor:
        none = FaceJob(blank, range(5), 2, executor)
        await none.wait(range(5), time.monotonic() + 30.0)
    assert turned == [2] and none.keyframe == 2 and none.status(2) is Status.NO_FACE
    # Each frame searched once upright (the keyframe twice more, turned: observe_turned calls observe).
    assert sorted(searched) == [0, 1, 2, 2, 2, 3, 4]
