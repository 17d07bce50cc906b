"""Server settings from the environment, read once at start-up; bad values fail there, not mid-request."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from liveness.vision.decode import DEFAULT_LIMITS, MediaLimits

PREFIX = "LIVENESS_"


def env_value(
    env: Mapping[str, str],
    name: str,
    default: Any,
    cast: type,
    low: float | None = None,
    high: float | None = None,
) -> Any:
    """`env[name]` cast to `cast`, or `default`; a value that does not parse, or lies outside [low, high],
    raises ValueError naming the variable."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        if cast is bool:
            lowered = raw.strip().lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(raw)
            return lowered in ("1", "true", "yes")
        value = cast(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not a valid {cast.__name__}") from None
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise ValueError(f"environment variable {name}={value!r} is outside {bounds}")
    return value


def from_env_fields(
    cls: type,
    env: Mapping[str, str],
    prefix: str,
    bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for dataclass `cls`: each field read from `<prefix><FIELD>` (unset or empty: its
    default) and cast to the field's type: str, int, float, bool (1/0, true/false, yes/no), Path, or
    `X | None` of one of them. `bounds` maps a field name to its (low, high); a value that does not parse,
    or lies outside its bounds, raises ValueError naming the variable."""
    hints = get_type_hints(cls)
    limits = bounds or {}
    unknown = set(limits) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"bounds for fields {cls.__name__} does not have: {sorted(unknown)}")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        low, high = limits.get(f.name, (None, None))
        cast = _cast_of(hints[f.name], f.default)
        kwargs[f.name] = env_value(env, prefix + f.name.upper(), f.default, cast, low, high)
    return kwargs


def _cast_of(hint: Any, default: Any) -> type:
    """The type a field's environment value is cast to: the annotation, without its `| None`."""
    args = [a for a in get_args(hint) if a is not type(None)]
    if get_origin(hint) in (Union, UnionType) and len(args) == 1:
        hint = args[0]
    if isinstance(hint, type):
        return hint
    return type(default) if default is not None else str


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Transport settings shared by every service (environment names are LIVENESS_<FIELD>)."""

    host: str = "127.0.0.1"
    port: int = 50051
    metrics_port: int = -1  # -1: no metrics endpoint; 0: any free port
    workers: int = 2  # threads running model code
    max_concurrent_rpcs: int = 64  # beyond this, calls are refused with RESOURCE_EXHAUSTED
    max_message_bytes: int = 64 * 1024 * 1024
    grace_s: float = 5.0
    log_level: str = "INFO"
    max_image_bytes: int = DEFAULT_LIMITS.max_image_bytes
    max_pixels: int = DEFAULT_LIMITS.max_pixels
    max_frames: int = DEFAULT_LIMITS.max_frames

    def __post_init__(self) -> None:
        if not (0 <= self.port <= 65535) or not (-1 <= self.metrics_port <= 65535):
            raise ValueError(f"ports must be in 0..65535: port={self.port}, metrics_port={self.metrics_port}")
        if self.workers < 1 or self.max_concurrent_rpcs < 1 or self.max_message_bytes < 1024:
            raise ValueError(f"workers, max_concurrent_rpcs and max_message_bytes must be positive: {self}")
        if self.grace_s < 0:
            raise ValueError("grace_s must be >= 0")
        self.limits  # noqa: B018 - validates the media limits now

    @property
    def limits(self) -> MediaLimits:
        return MediaLimits(
            max_image_bytes=self.max_image_bytes, max_pixels=self.max_pixels, max_frames=self.max_frames
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, **overrides: Any) -> ServerSettings:
        kwargs = from_env_fields(cls, env, PREFIX)
        kwargs.update(overrides)
        return cls(**kwargs)
