"""The JSON <-> protobuf conversions of the web bridge, table-style."""

from __future__ import annotations

import base64
import fnmatch
import json
import tomllib

import pytest

from liveness.errors import InvalidInput
from liveness.v1 import liveness_pb2 as pb
from liveness.web.bridge import PROMPTS, CaptureSettings, parse_evaluate, result_json, session_json
from tests.web.conftest import REPO

CAPTURE = CaptureSettings(max_frames=4)
JPEG = b"\xff\xd8\xff\xe0not-really-a-jpeg"
B64 = base64.b64encode(JPEG).decode()


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_parse_evaluate_builds_a_clip_with_the_session_credentials() -> None:
    parsed = parse_evaluate(
        body(
            session_id="tok",
            nonce="n",
            frames=[{"jpeg": B64, "timestamp_ms": 0}, {"jpeg": B64, "timestamp_ms": 125}],
        ),
        CAPTURE,
    )
    assert (parsed.session_id, parsed.nonce) == ("tok", "n")
    assert [f.timestamp_ms for f in parsed.media.clip.frames] == [0, 125]
    assert all(f.image.data == JPEG for f in parsed.media.clip.frames)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "expected a JSON object"),
        (body(frames=[]), "non-empty list"),
        (body(frames="x"), "non-empty list"),
        (body(frames=[{"jpeg": B64, "timestamp_ms": i} for i in range(5)]), "exceeds the limit of 4"),
        (body(frames=[7]), "frames[0]: expected an object"),
        (body(frames=[{"jpeg": B64, "timestamp_ms": -1}]), "timestamp_ms"),
        (body(frames=[{"jpeg": B64, "timestamp_ms": 1.5}]), "timestamp_ms"),
        (body(frames=[{"jpeg": B64, "timestamp_ms": True}]), "timestamp_ms"),
        (body(frames=[{"jpeg": 3, "timestamp_ms": 0}]), "base64 string"),
        (body(frames=[{"jpeg": "@@@", "timestamp_ms": 0}]), "not valid base64"),
        (body(frames=[{"jpeg": B64, "timestamp_ms": 0}], session_id=5), "session_id"),
        (body(frames=[{"jpeg": B64, "timestamp_ms": 0}], nonce="x" * 5000), "nonce"),
    ],
)
def test_parse_evaluate_rejects_malformed_bodies(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_evaluate(raw, CAPTURE)


def test_session_json_lists_prompts_in_order_and_flash_colours_as_hex() -> None:
    session = pb.CreateSessionResponse(
        session_id="tok",
        nonce="n",
        expires_at_ms=123,
        challenge=pb.Challenge(actions=[pb.ACTION_TURN_LEFT, pb.ACTION_BLINK]),
        flash=pb.FlashSequence(
            steps=[pb.FlashStep(color=pb.Color(red=255, green=0, blue=16), duration_ms=300)]
        ),
    )
    out = session_json(session, CAPTURE)
    assert [c["action"] for c in out["challenge"]] == ["turn_left", "blink"]
    assert out["challenge"][1]["prompt"] == PROMPTS[pb.ACTION_BLINK]
    assert out["flash"] == [{"color": "#ff0010", "rgb": [255, 0, 16], "duration_ms": 300}]
    assert out["capture"]["max_frames"] == 4
    assert (out["session_id"], out["nonce"], out["expires_at_ms"]) == ("tok", "n", 123)


def test_result_json_names_decision_statuses_and_session_checks() -> None:
    response = pb.EvaluateResponse(
        request_id="r",
        decision=pb.DECISION_SPOOF,
        score=0.25,
        tests=[
            pb.TestResult(
                result=pb.CheckResponse(test="iqa", score=0.25, status=pb.STATUS_OK), weight=1.0, fused=True
            ),
            pb.TestResult(result=pb.CheckResponse(test="temporal", status=pb.STATUS_TIMEOUT), weight=1.0),
        ],
        degraded=True,
        session=pb.SessionResult(
            challenge_satisfied=False,
            challenge_results=[pb.ActionResult(action=pb.ACTION_SMILE, satisfied=False, frame_index=-1)],
            flash=pb.FlashResult(status=pb.STATUS_OK, correlation=0.1, satisfied=False, detail="low"),
        ),
    )
    out = result_json(response)
    assert (out["decision"], out["score"], out["degraded"]) == ("spoof", 0.25, True)
    assert [(t["name"], t["status"], t["fused"]) for t in out["tests"]] == [
        ("iqa", "ok", True),
        ("temporal", "timeout", False),
    ]
    assert out["session"]["challenge"][0]["action"] == "smile"
    assert out["session"]["flash"] == {
        "status": "ok",
        "correlation": 0.1,
        "satisfied": False,
        "detail": "low",
    }


def test_result_json_without_a_session() -> None:
    assert result_json(pb.EvaluateResponse(decision=pb.DECISION_LIVE))["session"] is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_frames": 1},
        {"max_frames": 65},
        {"prompt_ms": 100},
        {"frame_width_px": 50},
        {"jpeg_quality": 2.0},
    ],
)
def test_capture_settings_reject_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        CaptureSettings(**kwargs)  # type: ignore[arg-type]


def _glob_matches(path: str, pattern: str) -> bool:
    """setuptools' package-data glob: `*` stays inside one folder (unlike fnmatch on the whole path)."""
    parts, globs = path.split("/"), pattern.split("/")
    return len(parts) == len(globs) and all(
        fnmatch.fnmatchcase(a, g) for a, g in zip(parts, globs, strict=True)
    )


def test_package_data_ships_every_static_file() -> None:
    """A wheel holds only the files pyproject's package-data names; the page must be among them."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["*"]
    package = REPO / "src" / "liveness" / "web"
    files = [p.relative_to(package).as_posix() for p in (package / "static").iterdir() if p.is_file()]
    assert {"static/index.html", "static/app.js", "static/style.css"} <= set(files)
    assert [f for f in files if not any(_glob_matches(f, p) for p in patterns)] == []
