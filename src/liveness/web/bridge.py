"""JSON <-> protobuf for the web capture page: what the page sends and what it is shown.

Pure functions (no sockets, no event loop), so the HTTP layer stays thin and this part is unit-tested
table-style. Image bytes are decoded from base64 here and go straight into the request message; they are
never logged or written anywhere.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from liveness.errors import InvalidInput
from liveness.v1 import liveness_pb2 as pb
from liveness.vision.decode import DEFAULT_LIMITS

# What the page asks the user to do for each challenge action (short, imperative, screen-reader friendly).
PROMPTS: dict[int, str] = {
    pb.ACTION_BLINK: "Blink both eyes",
    pb.ACTION_SMILE: "Smile",
    pb.ACTION_SURPRISE: "Look surprised: raise your eyebrows and open your mouth",
    pb.ACTION_TURN_LEFT: "Turn your head to your left",
    pb.ACTION_TURN_RIGHT: "Turn your head to your right",
}


@dataclass(frozen=True, slots=True)
class CaptureSettings:
    """How the page records: sent to it with each session, so the server is the one source of truth.

    `max_frames` stays within the gateway's clip limit (64 by default); the page spaces its frames so the
    whole recording (flash sequence, then one prompt per action) fits in it, at most one per
    `min_frame_interval_ms`.
    """

    max_frames: int = 48
    min_frame_interval_ms: int = 100
    prompt_ms: int = 2000
    frame_width_px: int = 640
    jpeg_quality: float = 0.85

    def __post_init__(self) -> None:
        if not 2 <= self.max_frames <= DEFAULT_LIMITS.max_frames:
            raise ValueError(
                f"max_frames must be within 2..{DEFAULT_LIMITS.max_frames}, got {self.max_frames}"
            )
        if self.min_frame_interval_ms < 10 or self.prompt_ms < 500:
            raise ValueError("min_frame_interval_ms must be >= 10 and prompt_ms >= 500")
        if not 160 <= self.frame_width_px <= 1920:
            raise ValueError(f"frame_width_px must be within 160..1920, got {self.frame_width_px}")
        if not 0.3 <= self.jpeg_quality <= 1.0:
            raise ValueError(f"jpeg_quality must be within 0.3..1.0, got {self.jpeg_quality}")


@dataclass(frozen=True, slots=True)
class EvaluateInput:
    """A parsed /api/evaluate body: the clip and the session credentials."""

    media: pb.Media
    session_id: str
    nonce: str


def _name(enum: Any, value: int, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix).lower()


def _hex(color: pb.Color) -> str:
    return f"#{color.red:02x}{color.green:02x}{color.blue:02x}"


def session_json(session: pb.CreateSessionResponse, capture: CaptureSettings) -> dict[str, Any]:
    """The page's view of a new session: credentials, prompts in order, flash steps, capture plan."""
    return {
        "session_id": session.session_id,
        "nonce": session.nonce,
        "expires_at_ms": int(session.expires_at_ms),
        "challenge": [
            {"action": _name(pb.Action, a, "ACTION_"), "prompt": PROMPTS.get(a, "Follow the instruction")}
            for a in session.challenge.actions
        ],
        "flash": [
            {
                "color": _hex(s.color),
                "rgb": [s.color.red, s.color.green, s.color.blue],
                "duration_ms": int(s.duration_ms),
            }
            for s in session.flash.steps
        ],
        "capture": {
            "max_frames": capture.max_frames,
            "min_frame_interval_ms": capture.min_frame_interval_ms,
            "prompt_ms": capture.prompt_ms,
            "frame_width_px": capture.frame_width_px,
            "jpeg_quality": capture.jpeg_quality,
        },
    }


def _string(body: dict[str, Any], key: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str) or len(value) > 4096:
        raise InvalidInput(f"{key}: expected a string of at most 4096 characters")
    return value


def parse_evaluate(raw: bytes, capture: CaptureSettings) -> EvaluateInput:
    """Parse `{"session_id", "nonce", "frames": [{"jpeg": base64, "timestamp_ms": int}, ...]}`.

    Checks only the JSON shape and the frame count here; the gateway validates the images themselves
    (format, size, timestamps) and its INVALID_ARGUMENT message reaches the page unchanged.
    """
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"body: not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise InvalidInput("body: expected a JSON object")
    frames = body.get("frames")
    if not isinstance(frames, list) or not frames:
        raise InvalidInput("frames: expected a non-empty list")
    if len(frames) > capture.max_frames:
        raise InvalidInput(f"frames: {len(frames)} frames exceeds the limit of {capture.max_frames}")
    out = []
    for i, frame in enumerate(frames):
        if not isinstance(frame, dict):
            raise InvalidInput(f"frames[{i}]: expected an object with jpeg and timestamp_ms")
        ts = frame.get("timestamp_ms")
        if isinstance(ts, bool) or not isinstance(ts, int) or ts < 0:
            raise InvalidInput(f"frames[{i}].timestamp_ms: expected a non-negative integer")
        data = frame.get("jpeg")
        if not isinstance(data, str):
            raise InvalidInput(f"frames[{i}].jpeg: expected a base64 string")
        try:
            jpeg = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f"frames[{i}].jpeg: not valid base64") from None
        out.append(pb.Frame(image=pb.Image(data=jpeg), timestamp_ms=ts))
    return EvaluateInput(
        media=pb.Media(clip=pb.Clip(frames=out)),
        session_id=_string(body, "session_id"),
        nonce=_string(body, "nonce"),
    )


def _action_json(r: pb.ActionResult) -> dict[str, Any]:
    return {
        "action": _name(pb.Action, r.action, "ACTION_"),
        "prompt": PROMPTS.get(r.action, ""),
        "satisfied": bool(r.satisfied),
        "confidence": round(float(r.confidence), 3),
    }


def result_json(response: pb.EvaluateResponse) -> dict[str, Any]:
    """The decision as the page shows it: fused score, one row per test, the session's checks."""
    out: dict[str, Any] = {
        "request_id": response.request_id,
        "decision": _name(pb.Decision, response.decision, "DECISION_"),
        "score": round(float(response.score), 4),
        "degraded": bool(response.degraded),
        "elapsed_ms": round(float(response.elapsed_ms), 1),
        "detail": response.detail,
        "face_status": _name(pb.Status, response.face_status, "STATUS_"),
        "tests": [
            {
                "name": t.result.test,
                "status": _name(pb.Status, t.result.status, "STATUS_"),
                "score": round(float(t.result.score), 4),
                "detail": t.result.detail,
                "latency_ms": round(float(t.result.latency_ms), 1),
                "weight": round(float(t.weight), 3),
                "fused": bool(t.fused),
            }
            for t in response.tests
        ],
        "session": None,
    }
    if response.HasField("session"):
        s = response.session
        out["session"] = {
            "challenge_satisfied": bool(s.challenge_satisfied),
            "challenge": [_action_json(r) for r in s.challenge_results],
            "flash": {
                "status": _name(pb.Status, s.flash.status, "STATUS_"),
                "correlation": round(float(s.flash.correlation), 3),
                "satisfied": bool(s.flash.satisfied),
                "detail": s.flash.detail,
            },
        }
    return out
