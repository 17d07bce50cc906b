"""The time an Evaluate may use, and which status code says it ran out.

The gateway's own budget (config `budget_ms`) or the caller's deadline, whichever is shorter, minus
`margin_ms` kept back to fuse and answer. When the caller's deadline is the shorter one and it runs out
before the media is even decoded, the answer is DEADLINE_EXCEEDED: the caller asked for less time than the
work takes, and retrying elsewhere with the same deadline would fail the same way. RESOURCE_EXHAUSTED is
kept for real overload: the gateway's own budget ran out while the request waited for a worker.
"""

from __future__ import annotations

from dataclasses import dataclass

from liveness.errors import DeadlineExceeded, LivenessError, Overloaded


@dataclass(frozen=True, slots=True)
class Budget:
    """When a request started, how long it may take, and whose limit that is."""

    start: float  # time.monotonic() at arrival
    budget_s: float  # the shorter of the gateway's budget and the caller's deadline
    margin_s: float
    client_bound: bool  # True when the caller's deadline is the shorter

    @property
    def deadline(self) -> float:
        """Monotonic time by which every test call must be done."""
        return self.start + self.budget_s - self.margin_s

    def exhausted(self, what: str) -> LivenessError:
        """The error for `what` not finishing within the budget."""
        ms = self.budget_s * 1000.0
        if self.client_bound:
            return DeadlineExceeded(f"the call's deadline ({ms:.0f} ms) ran out before {what}")
        return Overloaded(f"gateway overloaded: {what} did not happen within its {ms:.0f} ms budget")


def budget_for(start: float, budget_ms: float, margin_ms: float, client_left_s: float | None) -> Budget:
    """The request's budget; DeadlineExceeded at once when the caller's deadline leaves no time at all."""
    budget_s = budget_ms / 1000.0
    margin_s = margin_ms / 1000.0
    client_bound = client_left_s is not None and client_left_s < budget_s
    if client_left_s is not None and client_bound:
        budget_s = client_left_s
        if client_left_s <= margin_s:
            raise DeadlineExceeded(
                f"the call's deadline ({client_left_s * 1000.0:.0f} ms) leaves nothing after the gateway's "
                f"{margin_ms:.0f} ms margin; every test answers within {budget_ms:.0f} ms"
            )
    return Budget(start, budget_s, margin_s, client_bound)
