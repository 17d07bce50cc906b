"""State shared by every gateway replica, in Redis: single-use sessions and per-key rate limits.

`GATEWAY_REDIS_URL` (`redis://[:password@]host:port/db`, or `rediss://` for TLS) turns it on; without it
each gateway keeps both in its own memory (gateway.sessions.MemorySessions, liveness.security.TokenBuckets),
which is right for one gateway and wrong for several: a session made on one replica is unknown to the next,
and a key gets its rate once per replica.

- Sessions: one hash per session, `liveness:session:<id>`, holding the SHA-256 of its nonce, the API key id
  that made it and the challenge (actions and flash colours), nothing of the face or the media; Redis
  deletes it at the session's expiry (PEXPIRE). Redeeming is one Lua script: compare the nonce and owner,
  delete, return the challenge, so of any number of concurrent redemptions across replicas one wins.
- Rate limits: a token bucket per key id, `liveness:rate:<id>`, refilled and taken in one Lua script on
  Redis' own clock (replicas' clocks do not matter).
- Redis down or slow: every call is bounded by `GATEWAY_REDIS_TIMEOUT_MS` (default 250); after a failure a
  circuit breaker (gateway.breaker) fails the next calls at once for a short, growing interval, then probes,
  so the gateway reconnects on its own when Redis is back. Session calls then fail closed with UNAVAILABLE
  (liveness.errors.Unavailable); the rate limit falls back to this replica's own bucket, so requests
  without a session are still judged.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis.asyncio as redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from gateway.breaker import Breaker, BreakerSettings, State
from gateway.flash import FlashStep
from gateway.sessions import OTHER_KEY, UNKNOWN_OR_USED, WRONG_NONCE, Session
from liveness.errors import FailedPrecondition, PermissionDenied, Unavailable
from liveness.runtime.config import env_value
from liveness.security import RateLimit, TokenBuckets
from liveness.types import Action

log = logging.getLogger("gateway.shared_state")
T = TypeVar("T")
SESSION_PREFIX = "liveness:session:"
RATE_PREFIX = "liveness:rate:"
# After one failure the next calls fail at once for 0.25 s, doubling to 1 s, before one probes Redis again.
REDIS_BREAKER = BreakerSettings(failures=1, open_s=0.25, max_open_s=1.0, probe_lease_s=2.0)

# KEYS[1] the session; ARGV: sha256(nonce) hex, owner. Returns {status} or {"ok", challenge JSON}.
TAKE_SESSION = """
local f = redis.call('HMGET', KEYS[1], 'nonce', 'owner', 'challenge')
if not f[1] then return {'unknown'} end
if f[1] ~= ARGV[1] then return {'nonce'} end
if f[2] ~= ARGV[2] then return {'owner'} end
redis.call('DEL', KEYS[1])
return {'ok', f[3]}
"""

# KEYS[1] the bucket; ARGV: per_s, burst. Returns the seconds to wait as a string ("0": a token was taken).
TAKE_TOKEN = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local v = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(v[1]) or burst, tonumber(v[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return string.format('%.6f', wait)
"""


def _where(url: str) -> str:
    """host:port/db of a Redis URL, without credentials (for messages and logs)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path or '/0'}"


class RedisState:
    """One Redis connection pool for the gateway, every call bounded in time and behind a circuit breaker."""

    def __init__(self, url: str, timeout_s: float = 0.25) -> None:
        if urlsplit(url).scheme not in ("redis", "rediss"):
            raise ValueError(
                f"GATEWAY_REDIS_URL must be redis://host:port/db or rediss://...; got {_where(url)}"
            )
        if timeout_s <= 0:
            raise ValueError(f"GATEWAY_REDIS_TIMEOUT_MS must be > 0, got {timeout_s * 1000:g}")
        self.where = _where(url)
        self.timeout_s = timeout_s
        # No retries inside the client: the breaker decides when to try again, and a call never outlives
        # its timeout.
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self.breaker = Breaker(REDIS_BREAKER)
        self.take_session = self.client.register_script(TAKE_SESSION)
        self.take_token = self.client.register_script(TAKE_TOKEN)

    async def call(self, what: str, op: Callable[[], Awaitable[T]]) -> T:
        """`op()` within the timeout; Unavailable (with why and when to retry) when Redis cannot answer."""
        if not self.breaker.allow():
            raise Unavailable(
                f"{what}: the shared store ({self.where}) is unreachable "
                f"({self.breaker.last_failure}); retry in {max(self.breaker.retry_in_s(), 0.05):.2f} s"
            )
        try:
            result = await asyncio.wait_for(op(), self.timeout_s)
        except (RedisError, OSError, TimeoutError) as exc:
            why = (
                f"{type(exc).__name__}: {exc}"
                if str(exc)
                else f"no answer within {self.timeout_s * 1000:g} ms"
            )
            was_closed = self.breaker.state is State.CLOSED
            self.breaker.record(False, why)
            if was_closed:
                log.warning("redis unreachable", extra={"redis": self.where, "error": why})
            raise Unavailable(
                f"{what}: the shared store ({self.where}) did not answer ({why}); retry shortly"
            ) from None
        if self.breaker.state is not State.CLOSED:
            log.info("redis reachable again", extra={"redis": self.where})
        self.breaker.record(True)
        return result

    async def close(self) -> None:
        await self.client.aclose()


def _challenge_json(session: Session) -> str:
    return json.dumps(
        {
            "expires_at_ms": session.expires_at_ms,
            "actions": [a.value for a in session.challenge],
            "flash": [[*s.color, s.duration_ms] for s in session.flash],
        },
        separators=(",", ":"),
    )


def _nonce_digest(nonce: str) -> str:
    return hashlib.sha256(nonce.encode("utf-8")).hexdigest()


def _key(token: str) -> str:
    # The random id part: the token's signature was checked before any lookup, and the expiry is in the TTL.
    return SESSION_PREFIX + token.split(".", 1)[0]


class RedisSessions:
    """gateway.sessions.SessionBackend in Redis: shared by all replicas, burned atomically, expired by TTL."""

    def __init__(self, state: RedisState) -> None:
        self._state = state

    async def put(self, session: Session, ttl_ms: int) -> None:
        key = _key(session.token)
        mapping = {
            "nonce": _nonce_digest(session.nonce),
            "owner": session.owner,
            "challenge": _challenge_json(session),
        }

        async def op() -> Any:
            async with self._state.client.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping=mapping)
                pipe.pexpire(key, ttl_ms)
                return await pipe.execute()

        await self._state.call("CreateSession", op)

    async def take(self, token: str, nonce: str, owner: str) -> Session:
        reply = await self._state.call(
            "session",
            lambda: self._state.take_session(keys=[_key(token)], args=[_nonce_digest(nonce), owner]),
        )
        status = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        if status == "unknown":
            raise FailedPrecondition(UNKNOWN_OR_USED)
        if status == "nonce":
            raise PermissionDenied(WRONG_NONCE)
        if status == "owner":
            raise PermissionDenied(OTHER_KEY)
        body = json.loads(reply[1])
        return Session(
            token=token,
            nonce=nonce,
            expires_at_ms=int(body["expires_at_ms"]),
            challenge=tuple(Action(a) for a in body["actions"]),
            flash=tuple(FlashStep((r, g, b), ms) for r, g, b, ms in body["flash"]),
            owner=owner,
        )

    async def drop(self, token: str) -> None:
        return None  # Redis deletes it at its expiry


class SharedRateLimiter:
    """A token bucket per API key id in Redis, the same for every replica; while Redis cannot be reached,
    this replica's own bucket (liveness.security.TokenBuckets) decides."""

    def __init__(self, state: RedisState, limit: RateLimit) -> None:
        self._state = state
        self._limit = limit
        self.fallback = TokenBuckets(limit)

    async def __call__(self, key_id: str) -> float:
        try:
            wait = await self._state.call(
                "rate limit",
                lambda: self._state.take_token(
                    keys=[RATE_PREFIX + key_id], args=[self._limit.per_s, self._limit.burst]
                ),
            )
        except Unavailable:
            return self.fallback.take(key_id)
        return float(wait)


def state_from_env(env: Mapping[str, str] = os.environ) -> RedisState | None:
    """GATEWAY_REDIS_URL (+ GATEWAY_REDIS_TIMEOUT_MS), or None: state stays in this process."""
    url = env.get("GATEWAY_REDIS_URL", "").strip()
    if not url:
        return None
    timeout_ms = env_value(env, "GATEWAY_REDIS_TIMEOUT_MS", 250.0, float, low=1)
    return RedisState(url, timeout_ms / 1000.0)
