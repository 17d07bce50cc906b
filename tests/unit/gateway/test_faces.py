"""gateway.faces: the face search of one request, and the regions each test call gets."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np

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
