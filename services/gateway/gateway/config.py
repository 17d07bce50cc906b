"""Gateway configuration: endpoints, weights, thresholds and the time budget, from one YAML file.

Each test's address can be overridden by `<NAME>_ADDR` in the environment (k8s Services, `liveness up`).
The packaged default also calls every registered test (liveness.registry) that its file does not list yet.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from gateway.breaker import BreakerSettings
from gateway.fusion import Calibration, Thresholds
from gateway.sessions import SessionSettings
from liveness import registry
from liveness.runtime.config import env_value
from liveness.security import ApiKeys, RateLimit

DEFAULT_CONFIG = Path(__file__).with_name("default.yaml")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One test service the gateway calls."""

    name: str
    address: str
    weight: float
    # A test that needs no face (iqa) starts before face detection finishes.
    timeout_ms: float | None = None  # per-test cap inside the budget; None: the remaining budget


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Everything the gateway reads from its config file."""

    version: str = "0"
    budget_ms: float = 2000.0
    margin_ms: float = 50.0  # kept back from each call's deadline to fuse and answer
    describe_ttl_s: float = 30.0
    thresholds: Thresholds = field(default_factory=Thresholds)
    tests: tuple[Endpoint, ...] = ()
    sessions: SessionSettings = field(default_factory=SessionSettings)
    api_keys: ApiKeys = field(default_factory=ApiKeys)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)  # per test: stop calling a dead one
    # A learned fusion (`liveness calibrate`); None: the weighted mean of the scores.
    calibration: Calibration | None = None
    calibration_info: Mapping[str, Any] = field(default_factory=dict)  # what it was fitted on, dev metrics

    def __post_init__(self) -> None:
        if self.budget_ms <= 0 or self.margin_ms < 0 or self.margin_ms >= self.budget_ms:
            raise ValueError(f"need budget_ms > margin_ms >= 0, got {self.budget_ms}, {self.margin_ms}")
        names = [t.name for t in self.tests]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate test names in {names}")
        for t in self.tests:
            if t.weight < 0:
                raise ValueError(f"{t.name}: weight must be >= 0")

    def with_addresses(self, addresses: Mapping[str, str]) -> GatewayConfig:
        """The same config with some tests' addresses replaced."""
        return replace(
            self, tests=tuple(replace(t, address=addresses.get(t.name, t.address)) for t in self.tests)
        )

    def endpoint(self, name: str) -> Endpoint:
        for t in self.tests:
            if t.name == name:
                return t
        raise KeyError(name)


def _section(data: Mapping[str, Any], name: str, known: set[str]) -> dict[str, Any]:
    section = data.get(name) or {}
    if not isinstance(section, Mapping):
        raise ValueError(f"{name}: expected a mapping")
    unknown = set(section) - known
    if unknown:
        raise ValueError(f"{name}: unknown keys {sorted(unknown)}")
    return dict(section)


def _calibration(data: Mapping[str, Any]) -> tuple[Calibration | None, dict[str, Any]]:
    spec = _section(data, "fusion", {"method", "bias", "tests", "isotonic", "fitted"})
    if not spec or spec.get("method", "mean") == "mean":
        return None, dict(spec.get("fitted") or {})
    tests = spec.get("tests") or {}
    iso = spec.get("isotonic") or {}
    method = str(spec["method"])
    calibration = Calibration(
        method=method,
        bias=float(spec.get("bias", 0.0)),
        coefs={str(k): float(v["coef"]) for k, v in tests.items()},
        mean_logits={str(k): float(v["mean_logit"]) for k, v in tests.items() if method == "logistic"},
        offsets={str(k): float(v["offset"]) for k, v in tests.items() if method == "min"},
        knots_x=tuple(float(x) for x in iso.get("x", ())),
        knots_y=tuple(float(y) for y in iso.get("y", ())),
    )
    return calibration, dict(spec.get("fitted") or {})


def parse(data: Mapping[str, Any]) -> GatewayConfig:
    """Build a config from parsed YAML; unknown keys are errors so typos do not pass silently."""
    known = {
        "version",
        "budget_ms",
        "margin_ms",
        "describe_ttl_s",
        "thresholds",
        "tests",
        "sessions",
        "security",
        "fusion",
        "breaker",
    }
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown gateway config keys: {sorted(unknown)}")
    sessions = _section(data, "sessions", set(SessionSettings.__dataclass_fields__))
    breaker = _section(data, "breaker", set(BreakerSettings.__dataclass_fields__))
    security = _section(data, "security", {"api_keys", "rate_limit"})
    rate = security.get("rate_limit") or {}
    calibration, fitted = _calibration(data)
    tests = []
    for name, spec in (data.get("tests") or {}).items():
        extra = set(spec) - {"address", "weight", "timeout_ms"}
        if extra:
            raise ValueError(f"tests.{name}: unknown keys {sorted(extra)}")
        tests.append(
            Endpoint(
                name=name,
                address=str(spec["address"]),
                weight=float(spec.get("weight", 1.0)),
                timeout_ms=spec.get("timeout_ms"),
            )
        )
    th = data.get("thresholds") or {}
    return GatewayConfig(
        version=str(data.get("version", "0")),
        budget_ms=float(data.get("budget_ms", 2000.0)),
        margin_ms=float(data.get("margin_ms", 50.0)),
        describe_ttl_s=float(data.get("describe_ttl_s", 30.0)),
        thresholds=Thresholds(**{k: float(v) for k, v in th.items()}),
        tests=tuple(tests),
        sessions=SessionSettings(**sessions),
        breaker=BreakerSettings(**breaker),
        api_keys=ApiKeys(
            hashes={str(k): str(v) for k, v in (security.get("api_keys") or {}).items()},
            rate_limit=RateLimit(**{k: v for k, v in rate.items()}),
        ),
        calibration=calibration,
        calibration_info=fitted,
    )


def with_registered(config: GatewayConfig) -> GatewayConfig:
    """`config` plus each registered test it does not list, at 127.0.0.1:<its port> with weight 0: called
    and reported, not fused until a config (`liveness calibrate`) gives it a weight. An image has no
    registry, so there the file alone decides."""
    listed = {t.name for t in config.tests}
    extra = tuple(
        Endpoint(spec.name, f"127.0.0.1:{spec.port}", 0.0)
        for spec in registry.tests()
        if spec.name not in listed
    )
    return replace(config, tests=config.tests + extra) if extra else config


def load(path: Path | None = None, env: Mapping[str, str] = os.environ) -> GatewayConfig:
    """Read the YAML at `path` (GATEWAY_CONFIG, else the packaged default with the registered tests it
    lacks), then apply env overrides: <NAME>_ADDR per test, GATEWAY_TESTS (comma-separated subset to call),
    GATEWAY_BUDGET_MS."""
    path = path or Path(env.get("GATEWAY_CONFIG") or DEFAULT_CONFIG)
    with path.open() as fh:
        config = parse(yaml.safe_load(fh) or {})
    if path == DEFAULT_CONFIG:
        config = with_registered(config)
    addresses = {
        t.name: env[f"{t.name.upper()}_ADDR"] for t in config.tests if env.get(f"{t.name.upper()}_ADDR")
    }
    config = config.with_addresses(addresses)
    only = [n.strip() for n in env.get("GATEWAY_TESTS", "").split(",") if n.strip()]
    if only:
        unknown = set(only) - {t.name for t in config.tests}
        if unknown:
            raise ValueError(f"GATEWAY_TESTS names tests not in {path.name}: {sorted(unknown)}")
        config = replace(config, tests=tuple(t for t in config.tests if t.name in only))
    budget = env_value(env, "GATEWAY_BUDGET_MS", config.budget_ms, float)
    return replace(config, budget_ms=budget)


CLUSTER_PORT = 50051
CLUSTER_HEADER = (
    "# Gateway config in the cluster (the gateway-config ConfigMap, mounted as GATEWAY_CONFIG).\n"
    "# GENERATED from services/gateway/gateway/default.yaml by\n"
    "#   python -m gateway.config --cluster > deploy/k8s/base/gateway/fusion.yaml\n"
    "# Edit that file (or rerun `liveness calibrate`) and regenerate; tests/deploy checks that the two\n"
    "# agree. Addresses are the tests' headless Services; `security` comes from the API-key Secret.\n"
)


def cluster_yaml(default_text: str) -> str:
    """The cluster's fusion.yaml from the packaged default's text: the same fusion rule, weights, thresholds
    and sessions, with every test at `dns:///<name>:50051` and without the `security` section."""
    data = dict(yaml.safe_load(default_text) or {})
    parse(data)  # refuse to generate from an invalid config
    data.pop("security", None)
    data["tests"] = {
        name: {**spec, "address": f"dns:///{name}:{CLUSTER_PORT}"}
        for name, spec in (data.get("tests") or {}).items()
    }
    return CLUSTER_HEADER + yaml.safe_dump(data, sort_keys=False)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--cluster"]:
        sys.exit("usage: python -m gateway.config --cluster  (prints the cluster's fusion.yaml)")
    sys.stdout.write(cluster_yaml(DEFAULT_CONFIG.read_text()))
