"""Scoring for the offline tools: a data set's samples sent through the gateway or one test, one Outcome each.

Each sample becomes one request (an image as-is; a video as one clip of n evenly spaced frames, so videos are
scored per video). The decision rules, written once here so every report reads the same way:
- gateway: a presentation is accepted only when the decision is LIVE; UNCERTAIN, a failed call and an
  unreadable file all count as rejections. Score metrics use the fused score of conclusive answers.
- one test: accepted when the status is OK and score >= threshold; score metrics use OK answers only.
A local stack started for the call is first sent one request that is not scored (liveness.stack.warm_up_index
says which, and why).

Library code: bad arguments raise liveness.errors (InvalidInput, Unavailable); the commands turn them into
command-line errors. Used by `liveness eval` (liveness.evaluate), its protocols and `liveness calibrate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from liveness.data.samples import Sample
from liveness.errors import InvalidInput, Unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """One sample's answer. score is None when nothing usable came back (error, unreadable file)."""

    sample: Sample
    score: float | None
    status: str  # "ok", a test status ("no_face", ...), "uncertain" (gateway), or "error"
    accepted: bool  # classified bona fide under the report's decision rule
    latency_ms: float  # the request's round trip; reading and encoding the file beforehand is not in it
    decision: str = ""  # gateway only: "live", "spoof", "uncertain"
    error: str = ""
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)  # gateway only: per-test score/status

    @property
    def scored(self) -> bool:
        return self.score is not None and self.status == "ok"


Scorer = Callable[[Sample], Awaitable[Outcome]]


def select(samples: Sequence[Sample], limit: int | None, seed: int) -> list[Sample]:
    """At most `limit` samples drawn at random with `seed`, stratified by label, in the original order.

    Each label keeps its share of the data set but at least one sample (when `limit` allows), so a small
    --limit on an unbalanced set (replay-dev: 71 spoof crops, 3 videos) still has both classes.
    """
    items = list(samples)
    if limit is None or limit >= len(items):
        return items
    if limit < 1:
        raise InvalidInput(f"limit must be >= 1, got {limit}")
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for i, s in enumerate(items):
        by_label.setdefault(s.label, []).append(i)
    labels = sorted(by_label)
    quota = {lab: max(1, round(limit * len(by_label[lab]) / len(items))) for lab in labels}
    # Rounding and the minimum of one can overshoot or undershoot: fix on the largest classes.
    while sum(quota.values()) > limit:
        largest = max(labels, key=lambda lab: (quota[lab], lab))
        quota[largest] -= 1
    while sum(quota.values()) < limit:
        spare = [lab for lab in labels if quota[lab] < len(by_label[lab])]
        quota[max(spare, key=lambda lab: (len(by_label[lab]) - quota[lab], lab))] += 1
    keep = sorted(i for lab in labels for i in rng.sample(by_label[lab], min(quota[lab], len(by_label[lab]))))
    return [items[i] for i in keep]


async def score_all(
    samples: Sequence[Sample], scorer: Scorer, concurrency: int, progress: bool = True
) -> list[Outcome]:
    """Score every sample with `concurrency` requests in flight; results in sample order."""
    from tqdm import tqdm

    if concurrency < 1:
        raise InvalidInput(f"concurrency must be >= 1, got {concurrency}")
    results: list[Outcome | None] = [None] * len(samples)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(samples)):
        queue.put_nowait(i)
    bar = tqdm(total=len(samples), unit="sample", desc="eval", disable=not progress)

    async def worker() -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            results[i] = await scorer(samples[i])
            bar.update(1)

    try:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, max(len(samples), 1)))))
    finally:
        bar.close()
    return [r for r in results if r is not None]


def _status_name(enum_type: Any, value: int, prefix: str) -> str:
    return str(enum_type.Name(value)).removeprefix(prefix).lower()


async def _media(sample: Sample, frames: int) -> Any:
    from liveness.client import media_from_path

    # Video decoding and JPEG encoding are CPU work: keep them off the event loop.
    return await asyncio.to_thread(media_from_path, sample.path, frames)


def _failure(sample: Sample, exc: BaseException, started: float) -> Outcome:
    import grpc

    if isinstance(exc, grpc.aio.AioRpcError):
        message = f"{exc.code().name}: {exc.details()}"
    else:
        message = f"{exc.__class__.__name__}: {exc}"
    return Outcome(
        sample=sample,
        score=None,
        status="error",
        accepted=False,
        latency_ms=(time.perf_counter() - started) * 1000.0,
        error=message,
    )


def gateway_scorer(client: Any, frames: int, timeout_s: float) -> Scorer:
    """Scores through `liveness.client.GatewayClient.evaluate`; only DECISION_LIVE is an acceptance."""
    import grpc

    from liveness.v1 import liveness_pb2 as pb

    async def score(sample: Sample) -> Outcome:
        started = time.perf_counter()
        try:
            media = await _media(sample, frames)
            # a video's decoding and re-encoding is the client's, not the service's
            started = time.perf_counter()
            reply = await client.evaluate(media, timeout_s=timeout_s)
        except (grpc.aio.AioRpcError, InvalidInput, OSError) as exc:
            return _failure(sample, exc, started)
        decision = _status_name(pb.Decision, reply.decision, "DECISION_")
        conclusive = decision in ("live", "spoof")
        return Outcome(
            sample=sample,
            score=float(reply.score) if conclusive else None,
            status="ok" if conclusive else "uncertain",
            accepted=decision == "live",
            latency_ms=(time.perf_counter() - started) * 1000.0,
            decision=decision,
            error="" if conclusive else reply.detail,
            tests={
                t.result.test: {
                    "score": float(t.result.score),
                    "status": _status_name(pb.Status, t.result.status, "STATUS_"),
                    "fused": bool(t.fused),
                }
                for t in reply.tests
            },
        )

    return score


def test_scorer(client: Any, frames: int, timeout_s: float, threshold: float) -> Scorer:
    """Scores through `liveness.client.TestClient.check` (the service finds the face itself)."""
    import grpc

    from liveness.v1 import liveness_pb2 as pb

    async def score(sample: Sample) -> Outcome:
        started = time.perf_counter()
        try:
            media = await _media(sample, frames)
            # a video's decoding and re-encoding is the client's, not the service's
            started = time.perf_counter()
            reply = await client.check(media, timeout_s=timeout_s)
        except (grpc.aio.AioRpcError, InvalidInput, OSError) as exc:
            return _failure(sample, exc, started)
        status = _status_name(pb.Status, reply.status, "STATUS_")
        ok = status == "ok"
        return Outcome(
            sample=sample,
            score=float(reply.score) if ok else None,
            status=status,
            accepted=ok and float(reply.score) >= threshold,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            error="" if ok else reply.detail,
        )

    return score


async def _evaluate(
    samples: Sequence[Sample],
    *,
    address: str,
    warm_up: Sample | None = None,
    test: str | None,
    frames: int,
    concurrency: int,
    timeout_s: float,
    threshold: float | None,
    progress: bool,
) -> tuple[list[Outcome], dict[str, Any], float]:
    from liveness.client import GatewayClient, TestClient

    if test is not None:
        async with TestClient(address) as client:
            info = await client.describe(timeout_s=timeout_s)
            chosen = float(info.recommended_threshold) if threshold is None else threshold
            source = "the test's recommended threshold" if threshold is None else "--threshold"
            target = {
                "kind": "test",
                "name": info.name or test,
                "version": info.version,
                "threshold_source": source,
            }
            scorer = test_scorer(client, frames, timeout_s, chosen)
            if warm_up is not None:
                await scorer(warm_up)
            return await score_all(samples, scorer, concurrency, progress), target, chosen
    async with GatewayClient(address) as gw:
        chosen = 0.5 if threshold is None else threshold
        source = "0.5 on the fused score" if threshold is None else "--threshold"
        scorer = gateway_scorer(gw, frames, timeout_s)
        if warm_up is not None:
            await scorer(warm_up)
        outcomes = await score_all(samples, scorer, concurrency, progress)
        return outcomes, {"kind": "gateway", "name": "gateway", "threshold_source": source}, chosen


def run_scoring(
    samples: Sequence[Sample],
    *,
    gateway: str | None,
    test: str | None,
    address: str | None,
    frames: int,
    concurrency: int,
    timeout_s: float,
    threshold: float | None,
    progress: bool,
) -> tuple[list[Outcome], dict[str, Any], float]:
    """Score `samples` through the running gateway (or test at `address`), else through a local stack
    started for the call and stopped after it; (outcomes, target, threshold) as `_evaluate` returns them.
    InvalidInput: a test the gateway configuration does not list; Unavailable: no local stack started."""
    kwargs: dict[str, Any] = dict(
        test=test,
        frames=frames,
        concurrency=concurrency,
        timeout_s=timeout_s,
        threshold=threshold,
        progress=progress,
    )
    running = gateway or address
    if running:
        return asyncio.run(_evaluate(samples, address=running, **kwargs))
    from liveness.stack import LocalStack, warm_up_index

    log.info("starting a local stack (%s)", test or "all tests")
    try:
        stack = LocalStack([test] if test else None)
    except ValueError as exc:  # a test the gateway configuration does not list
        raise InvalidInput(str(exc)) from None
    with contextlib.ExitStack() as cleanup:
        try:
            cleanup.enter_context(stack)
        except (RuntimeError, TimeoutError) as exc:
            raise Unavailable(f"local stack: {exc}") from None
        where = stack.addresses[test] if test else stack.gateway_address
        warm = samples[warm_up_index([s.kind == "video" for s in samples])] if samples else None
        return asyncio.run(_evaluate(samples, address=where, warm_up=warm, **kwargs))
