"""The gateway config's sessions, security and fusion sections: parsed, validated, unknown keys refused."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import DEFAULT_CONFIG, load, parse
from liveness.security import hash_api_key


def test_defaults_keep_security_off_and_sessions_optional() -> None:
    config = load(DEFAULT_CONFIG, env={})
    assert not config.api_keys.enabled
    # The packaged fusion is the one `liveness calibrate` fitted on held-out scores (scripts/fit_fusion.sh).
    assert config.calibration is not None and config.calibration.method == "min"
    assert set(config.calibration.coefs) == {t.name for t in config.tests if t.weight > 0}
    assert "held_out_domains" in config.calibration_info and "command" in config.calibration_info
    assert config.sessions.ttl_s == 180 and not config.sessions.required


def test_sections_parse() -> None:
    config = parse(
        {
            "sessions": {"ttl_s": 60, "actions": 3, "required": True, "flash_min_correlation": 0.6},
            "security": {"api_keys": {"web": hash_api_key("k")}, "rate_limit": {"per_s": 2, "burst": 4}},
            "fusion": {
                "method": "logistic",
                "bias": 0.1,
                "tests": {"cnn2d": {"coef": 2.0, "mean_logit": 0.3}},
                "fitted": {"source": "dev.csv"},
            },
        }
    )
    assert config.sessions.ttl_s == 60 and config.sessions.actions == 3 and config.sessions.required
    assert config.api_keys.identify("k") == "web" and config.api_keys.rate_limit.burst == 4
    assert config.calibration is not None and config.calibration.coefs == {"cnn2d": 2.0}
    assert config.calibration_info == {"source": "dev.csv"}
    assert parse({"fusion": {"method": "mean"}}).calibration is None
    spec = {"method": "min", "tests": {"cnn2d": {"coef": 1.5, "offset": -0.2}}}
    least = parse({"fusion": spec}).calibration
    assert least is not None and least.coefs == {"cnn2d": 1.5} and least.offsets == {"cnn2d": -0.2}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"sessions": {"ttl": 60}}, "sessions: unknown keys"),
        ({"security": {"keys": {}}}, "security: unknown keys"),
        ({"fusion": {"method": "logistic", "weights": {}}}, "fusion: unknown keys"),
        ({"security": {"api_keys": {"web": "plaintext"}}}, "sha256"),
        ({"security": {"rate_limit": {"per_s": 0}}}, "rate limit"),
        ({"sessions": {"actions": 9}}, "sessions.actions"),
        ({"fusion": {"method": "isotonic", "isotonic": {"x": [0.1], "y": [0.2]}}}, "isotonic"),
        ({"sessions": "yes"}, "expected a mapping"),
    ],
)
def test_bad_sections_fail_at_load(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(data)
