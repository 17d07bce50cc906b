"""Sessions: a server-random challenge and flash-colour sequence that a clip must answer once, in time.

A session id is a token `<id>.<expires_at_ms>.<hmac>` signed with the gateway's secret key, so an id that the
gateway did not issue (forged, tampered expiry) fails before any lookup. The single-use nonce and the
challenge live in a `SessionBackend`: `MemorySessions`, in this process, bounded in size and time (the
default, for one gateway), or `gateway.shared_state.RedisSessions`, shared by every replica (each then needs
the same `GATEWAY_SESSION_KEY`). Either burns a session atomically: of any number of concurrent redemptions,
one wins. How a clip answered a session is judged elsewhere: the flash colours by gateway.flash, the session
rules on top of the fused decision by gateway.policy.

Pure: no gRPC. Failures raise liveness.errors types (PermissionDenied for forged tokens or wrong nonces,
FailedPrecondition for expired, used or unknown sessions, Unavailable when the shared store is down), which
the server interceptor maps to status codes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from gateway.flash import RGB, FlashStep
from liveness.errors import FailedPrecondition, InvalidInput, PermissionDenied
from liveness.types import Action

# Saturated, well-separated screen colours: each step changes the face's chroma in a known direction.
PALETTE: dict[str, RGB] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "magenta": (255, 0, 255),
    "cyan": (0, 255, 255),
}
ACTIONS = (Action.BLINK, Action.SMILE, Action.SURPRISE, Action.TURN_LEFT, Action.TURN_RIGHT)


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """How sessions are made and kept (config `sessions:`; key from GATEWAY_SESSION_KEY)."""

    ttl_s: float = 180.0
    max_sessions: int = 10_000  # the oldest session is dropped beyond this, so memory stays bounded
    actions: int = 2  # challenge length
    flash_steps: int = 6  # with 6 colours, two random sequences rarely agree for long
    flash_min_ms: int = 250
    flash_max_ms: int = 400
    flash_min_correlation: float = 0.5  # the flash check passes at or above this correlation
    required: bool = False  # when true, Evaluate without a session is refused

    def __post_init__(self) -> None:
        if self.ttl_s <= 0 or self.max_sessions < 1:
            raise ValueError(
                f"sessions: need ttl_s > 0 and max_sessions >= 1, got {self.ttl_s}, {self.max_sessions}"
            )
        if not (1 <= self.actions <= len(ACTIONS)):
            raise ValueError(f"sessions.actions must be in 1..{len(ACTIONS)}, got {self.actions}")
        if self.flash_steps < 0 or not (0 < self.flash_min_ms <= self.flash_max_ms):
            raise ValueError("sessions: need flash_steps >= 0 and 0 < flash_min_ms <= flash_max_ms")
        if not (-1.0 <= self.flash_min_correlation <= 1.0):
            raise ValueError("sessions.flash_min_correlation must be in [-1, 1]")


@dataclass(frozen=True, slots=True)
class Session:
    """What the client was asked to do; `nonce` is single-use; `owner` is the API key id that made it."""

    token: str
    nonce: str
    expires_at_ms: int
    challenge: tuple[Action, ...]
    flash: tuple[FlashStep, ...]
    owner: str = ""


def random_challenge(n: int, rng: secrets.SystemRandom) -> tuple[Action, ...]:
    """n distinct actions in random order (at most one head turn, so the clip stays short to perform)."""
    pool = list(ACTIONS)
    rng.shuffle(pool)
    chosen: list[Action] = []
    for action in pool:
        turns = {Action.TURN_LEFT, Action.TURN_RIGHT}
        if action in turns and turns & set(chosen):
            continue
        chosen.append(action)
        if len(chosen) == n:
            break
    while len(chosen) < n:  # only reached when n > 4: allow the second turn
        chosen.append(next(a for a in pool if a not in chosen))
    return tuple(chosen)


def random_flash(settings: SessionSettings, rng: secrets.SystemRandom) -> tuple[FlashStep, ...]:
    """Random colours (no colour twice in a row) with random durations."""
    steps: list[FlashStep] = []
    names = list(PALETTE)
    previous = ""
    for _ in range(settings.flash_steps):
        name = rng.choice([n for n in names if n != previous])
        previous = name
        steps.append(FlashStep(PALETTE[name], rng.randint(settings.flash_min_ms, settings.flash_max_ms)))
    return tuple(steps)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def session_key_from_env(env: Mapping[str, str] = os.environ) -> bytes:
    """GATEWAY_SESSION_KEY (hex, >= 32 bytes) or a fresh random key (sessions then die with the process)."""
    raw = env.get("GATEWAY_SESSION_KEY", "")
    if not raw:
        return secrets.token_bytes(32)
    try:
        key = bytes.fromhex(raw)
    except ValueError:
        raise ValueError("GATEWAY_SESSION_KEY must be hex") from None
    if len(key) < 32:
        raise ValueError(f"GATEWAY_SESSION_KEY must hold at least 32 bytes, got {len(key)}")
    return key


UNKNOWN_OR_USED = "session_id: unknown or already used (sessions are single-use); create a new session"
WRONG_NONCE = "nonce: does not match the session"
OTHER_KEY = "session_id: it was created with another API key"


class SessionBackend(Protocol):
    """Where sessions wait to be redeemed. `take` is atomic: it checks the nonce and owner and deletes the
    session in one step, raising FailedPrecondition (UNKNOWN_OR_USED), PermissionDenied (WRONG_NONCE,
    OTHER_KEY) or liveness.errors.Unavailable (the store cannot be reached)."""

    async def put(self, session: Session, ttl_ms: int) -> None: ...

    async def take(self, token: str, nonce: str, owner: str) -> Session: ...

    async def drop(self, token: str) -> None: ...


class MemorySessions:
    """Sessions in this process: at most `max_sessions` (the oldest dropped beyond that), expired ones purged.

    Thread-safe: the gateway calls it from the event loop, tests from anywhere.
    """

    def __init__(self, max_sessions: int, clock_ms: Callable[[], int]) -> None:
        self._max = max_sessions
        self._clock_ms = clock_ms
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()
        self.evicted = 0  # sessions dropped unused because the store was full

    def __len__(self) -> int:
        return len(self._sessions)

    async def put(self, session: Session, ttl_ms: int) -> None:
        with self._lock:
            now = self._clock_ms()
            for token in [t for t, s in self._sessions.items() if s.expires_at_ms <= now]:
                del self._sessions[token]
            while len(self._sessions) >= self._max:
                self._sessions.popitem(last=False)
                self.evicted += 1
            self._sessions[session.token] = session

    async def take(self, token: str, nonce: str, owner: str) -> Session:
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                raise FailedPrecondition(UNKNOWN_OR_USED)
            if not hmac.compare_digest(session.nonce, nonce):
                raise PermissionDenied(WRONG_NONCE)
            if session.owner != owner:
                raise PermissionDenied(OTHER_KEY)
            del self._sessions[token]
        return session

    async def drop(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(token, None)


class SessionStore:
    """Issues signed sessions and burns them on first use, in `backend` (default: `MemorySessions`)."""

    def __init__(
        self,
        settings: SessionSettings,
        key: bytes,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        backend: SessionBackend | None = None,
    ) -> None:
        if len(key) < 32:
            raise ValueError("the session key must hold at least 32 bytes")
        self.settings = settings
        self._key = key
        self._clock_ms = clock_ms
        self._rng = secrets.SystemRandom()
        self.backend: SessionBackend = backend or MemorySessions(settings.max_sessions, clock_ms)

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())

    async def create(self, owner: str = "") -> Session:
        """A new session with a random challenge and flash sequence."""
        ttl_ms = int(self.settings.ttl_s * 1000)
        expires = self._clock_ms() + ttl_ms
        body = f"{_b64(secrets.token_bytes(16))}.{expires}"
        session = Session(
            token=f"{body}.{self._sign(body)}",
            nonce=_b64(secrets.token_bytes(16)),
            expires_at_ms=expires,
            challenge=random_challenge(self.settings.actions, self._rng),
            flash=random_flash(self.settings, self._rng),
            owner=owner,
        )
        await self.backend.put(session, ttl_ms)
        return session

    async def redeem(self, token: str, nonce: str, owner: str = "") -> Session:
        """Check the token, expiry, nonce and owner, then burn the session (even if the clip later fails,
        so a replay of the same session never gets a second try)."""
        if not token or not nonce:
            raise InvalidInput("session_id, nonce: send both or neither")
        parts = token.split(".")
        if len(parts) != 3 or not hmac.compare_digest(self._sign(f"{parts[0]}.{parts[1]}"), parts[2]):
            raise PermissionDenied("session_id: the session id is not one this gateway issued")
        if int(parts[1]) <= self._clock_ms():
            await self.backend.drop(token)
            raise FailedPrecondition("session_id: expired; create a new session")
        return await self.backend.take(token, nonce, owner)
