"""A circuit breaker per dependency (outlier ejection, as Envoy's and gRPC's outlier detection do it).

After `failures` failed calls in a row the circuit opens: callers skip the dependency for `open_s`, answer
at once without it, and each time it opens again without a success in between the interval doubles, up to
`max_open_s`. When the interval has passed, one call goes through as a probe (half-open); its success
closes the circuit and forgets the past ejections, its failure opens it again for the next interval. A probe
that never reports back (its caller was cancelled) is given up after `probe_lease_s`, and another call may
probe.

Pure: no gRPC, no asyncio; the clock is injectable. Not thread-safe (the gateway calls it from its event
loop only).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class State(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """Config `breaker:`; `failures: 0` turns the breaker off (every call goes through)."""

    failures: int = 3  # failed calls in a row that open the circuit
    open_s: float = 0.5  # the first open interval
    max_open_s: float = 2.0  # the interval doubles on each reopening, up to this
    probe_lease_s: float = 5.0  # a probe that has not reported by then no longer blocks another

    def __post_init__(self) -> None:
        if self.failures < 0:
            raise ValueError(f"breaker.failures must be >= 0, got {self.failures}")
        if not (0 < self.open_s <= self.max_open_s) or self.probe_lease_s <= 0:
            raise ValueError(
                "breaker: need 0 < open_s <= max_open_s and probe_lease_s > 0, got "
                f"{self.open_s}, {self.max_open_s}, {self.probe_lease_s}"
            )

    @property
    def enabled(self) -> bool:
        return self.failures > 0


class Breaker:
    """The state of one dependency's circuit; `allow()` before a call, `record(ok)` after it."""

    def __init__(self, settings: BreakerSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self.state = State.CLOSED
        self.failures = 0  # failures in a row
        self.ejections = 0  # openings since the last success
        self.opened = 0  # openings in all (a counter for logs and metrics)
        self._until = 0.0  # OPEN: when a probe may go
        self._probe_since: float | None = None  # HALF_OPEN: when the probe in flight was let through
        self.last_failure = ""

    def allow(self) -> bool:
        """Whether a call may go now; in HALF_OPEN only the probe may. The caller `record`s the outcome."""
        if not self.settings.enabled or self.state is State.CLOSED:
            return True
        now = self._clock()
        if self.state is State.OPEN:
            if now < self._until:
                return False
            self.state = State.HALF_OPEN
            self._probe_since = now
            return True
        # HALF_OPEN: one probe at a time, unless the one in flight never came back.
        if self._probe_since is not None and now - self._probe_since < self.settings.probe_lease_s:
            return False
        self._probe_since = now
        return True

    def record(self, ok: bool, why: str = "") -> None:
        """The outcome of a call that `allow()` let through."""
        if not self.settings.enabled:
            return
        if ok:
            self.state, self.failures, self.ejections, self._probe_since = State.CLOSED, 0, 0, None
            return
        self.failures += 1
        self.last_failure = why
        if self.state is State.OPEN:
            return  # a call sent before the circuit opened: it already counted towards that opening
        if self.state is State.HALF_OPEN or self.failures >= self.settings.failures:
            interval = min(self.settings.open_s * 2.0**self.ejections, self.settings.max_open_s)
            self.state, self._until, self._probe_since = State.OPEN, self._clock() + interval, None
            self.ejections += 1
            self.opened += 1

    def retry_in_s(self) -> float:
        """Seconds until a probe may go (0 when the circuit is not open)."""
        if self.state is not State.OPEN:
            return 0.0
        return max(self._until - self._clock(), 0.0)

    def describe(self) -> str:
        """Why calls are skipped, for the answer's detail."""
        return (
            f"not called: circuit open after {self.failures} failed calls in a row "
            f"(last: {self.last_failure or 'unknown'}); next probe in {self.retry_in_s():.2f} s"
        )
