"""Transport security shared by the gateway and the tests: TLS/mTLS credentials from files, a dev CA,
API keys stored as hashes, per-key rate limiting as a server interceptor.

Everything is optional and off by default (the local stack runs in plain text on loopback):
- server TLS: LIVENESS_TLS_CERT + LIVENESS_TLS_KEY (PEM files); with LIVENESS_TLS_CLIENT_CA as well, clients
  must present a certificate signed by that CA (mTLS, what the tests require from the gateway);
- the gateway's calls to the tests: GATEWAY_BACKEND_CA (trust), GATEWAY_BACKEND_CERT + GATEWAY_BACKEND_KEY
  (the client certificate for mTLS);
- API keys: `security.api_keys` in the gateway config maps a key id to "sha256:<hex>" of the key. Keys are
  random 32-byte tokens, so one SHA-256 is enough (a slow password hash would only add latency per call);
  comparison is constant-time.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from liveness.runtime.interceptors import PROBE_SERVICES, refuse

log = logging.getLogger("liveness.security")
API_KEY_HEADER = "x-api-key"
HASH_PREFIX = "sha256:"


current_key_id: contextvars.ContextVar[str] = contextvars.ContextVar("liveness_api_key_id", default="")
"""The API key id of the call being served ("" when API keys are off); servicers read it."""

# ---------------------------------------------------------------------------------------------------------
# TLS
# ---------------------------------------------------------------------------------------------------------


def _read(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{what}: cannot read {path}: {exc.strerror}") from None


def server_credentials(
    cert: str | Path, key: str | Path, client_ca: str | Path | None = None
) -> grpc.ServerCredentials:
    """TLS server credentials from PEM files; with `client_ca`, clients must present a certificate (mTLS)."""
    pair = [(_read(key, "TLS key"), _read(cert, "TLS certificate"))]
    if client_ca is None:
        return grpc.ssl_server_credentials(pair)
    return grpc.ssl_server_credentials(
        pair, root_certificates=_read(client_ca, "TLS client CA"), require_client_auth=True
    )


def channel_credentials(
    ca: str | Path | None, cert: str | Path | None = None, key: str | Path | None = None
) -> grpc.ChannelCredentials:
    """TLS channel credentials: trust `ca` (None: the system roots); `cert` + `key`: a client certificate."""
    if (cert is None) != (key is None):
        raise ValueError("a client certificate needs both the certificate and the key file")
    return grpc.ssl_channel_credentials(
        root_certificates=_read(ca, "TLS CA") if ca else None,
        private_key=_read(key, "TLS client key") if key else None,
        certificate_chain=_read(cert, "TLS client certificate") if cert else None,
    )


def server_credentials_from_env(
    env: Mapping[str, str] = os.environ, prefix: str = "LIVENESS_"
) -> grpc.ServerCredentials | None:
    """<prefix>TLS_CERT/_KEY (and _CLIENT_CA for mTLS), or None for plain text; half a setting is an error."""
    cert, key, ca = (env.get(f"{prefix}TLS_{n}") or None for n in ("CERT", "KEY", "CLIENT_CA"))
    if cert is None and key is None:
        if ca is not None:
            raise ValueError(f"{prefix}TLS_CLIENT_CA needs {prefix}TLS_CERT and {prefix}TLS_KEY")
        return None
    if cert is None or key is None:
        raise ValueError(f"set both {prefix}TLS_CERT and {prefix}TLS_KEY, or neither")
    return server_credentials(cert, key, ca)


def channel_credentials_from_env(
    env: Mapping[str, str] = os.environ, prefix: str = "GATEWAY_BACKEND_"
) -> grpc.ChannelCredentials | None:
    """<prefix>CA (+ <prefix>CERT/<prefix>KEY for mTLS), or None for plain text."""
    ca, cert, key = (env.get(f"{prefix}{n}") or None for n in ("CA", "CERT", "KEY"))
    if ca is None and cert is None and key is None:
        return None
    return channel_credentials(ca, cert, key)


@dataclass(frozen=True, slots=True)
class DevCA:
    """Files written by `make_dev_ca`, all PEM."""

    ca_cert: Path
    ca_key: Path
    certs: dict[str, tuple[Path, Path]]  # name -> (certificate, key)


def make_dev_ca(
    out: Path, names: Sequence[str], hosts: Sequence[str] = ("localhost", "127.0.0.1"), days: int = 30
) -> DevCA:
    """A throw-away CA plus one certificate per name (valid for `hosts`, as server and client), for local
    TLS/mTLS. Development only: the CA key sits next to the certificates."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    out.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    until = now + dt.timedelta(days=days)

    def write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "liveness dev CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = DevCA(out / "ca.pem", out / "ca.key", {})
    files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    write_key(files.ca_key, ca_key)
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    for name in names:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name), *alt_names]), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        cert_path, key_path = out / f"{name}.pem", out / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        write_key(key_path, key)
        files.certs[name] = (cert_path, key_path)
    return files


# ---------------------------------------------------------------------------------------------------------
# API keys and rate limiting
# ---------------------------------------------------------------------------------------------------------


def hash_api_key(key: str) -> str:
    """The form stored in config: "sha256:<hex>"."""
    return HASH_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_api_key() -> tuple[str, str]:
    """A fresh random key and its stored hash."""
    key = secrets.token_urlsafe(32)
    return key, hash_api_key(key)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Token bucket per key: `per_s` requests per second sustained, bursts of up to `burst`."""

    per_s: float = 10.0
    burst: int = 20

    def __post_init__(self) -> None:
        if self.per_s <= 0 or self.burst < 1:
            raise ValueError(f"rate limit needs per_s > 0 and burst >= 1, got {self.per_s}, {self.burst}")


@dataclass(frozen=True, slots=True)
class ApiKeys:
    """Key id -> stored hash; empty: API keys are off."""

    hashes: Mapping[str, str] = field(default_factory=dict)
    rate_limit: RateLimit = field(default_factory=RateLimit)

    def __post_init__(self) -> None:
        for key_id, digest in self.hashes.items():
            hexpart = digest.removeprefix(HASH_PREFIX)
            if not digest.startswith(HASH_PREFIX) or len(hexpart) != 64:
                raise ValueError(f"api key {key_id!r}: store it as sha256:<64 hex digits> (hash_api_key)")
            try:
                bytes.fromhex(hexpart)
            except ValueError:
                raise ValueError(f"api key {key_id!r}: the hash is not hex") from None

    @property
    def enabled(self) -> bool:
        return bool(self.hashes)

    def identify(self, presented: str) -> str | None:
        """The id of the key whose hash matches, or None; every stored hash is compared in constant time."""
        digest = hash_api_key(presented)
        found = None
        for key_id, stored in self.hashes.items():
            if hmac.compare_digest(stored, digest):
                found = key_id
        return found


class TokenBuckets:
    """One token bucket per key id; thread-safe, with an injectable clock for tests."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # id -> (tokens, last refill time)
        self._lock = threading.Lock()

    def take(self, key_id: str) -> float:
        """0.0 when a token was taken; else the seconds until one is available."""
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(key_id, (float(self._limit.burst), now))
            tokens = min(float(self._limit.burst), tokens + (now - last) * self._limit.per_s)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self._limit.per_s


RateLimiter = Callable[[str], Awaitable[float]]
"""Takes a token for a key id: 0.0 when one was taken, else the seconds until one is available."""


class ApiKeyInterceptor(grpc.aio.ServerInterceptor):
    """Rejects calls without a known x-api-key (UNAUTHENTICATED) and callers over their rate
    (RESOURCE_EXHAUSTED); health and reflection stay open for probes. The key id of an accepted call is put
    in `current_key_id` for the servicer (sessions remember which key created them).

    The rate is kept by `limiter` (the gateway passes one shared by its replicas), else by token buckets in
    this process."""

    def __init__(
        self,
        keys: ApiKeys,
        clock: Callable[[], float] = time.monotonic,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._keys = keys
        buckets = TokenBuckets(keys.rate_limit, clock)

        async def local(key_id: str) -> float:
            return buckets.take(key_id)

        self._limiter = limiter or local

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        service = handler_call_details.method.split("/")[1] if handler_call_details.method else ""
        # Probes and tooling stay open: Kubernetes' gRPC health probe sends no metadata.
        if handler is None or handler.unary_unary is None or service in PROBE_SERVICES:
            return handler
        metadata = dict(handler_call_details.invocation_metadata or ())
        presented = metadata.get(API_KEY_HEADER)
        key_id = self._keys.identify(presented) if isinstance(presented, str) and presented else None
        inner = handler.unary_unary

        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if key_id is None:
                what = "missing" if not presented else "not a known key"
                log.warning(
                    "rejected", extra={"rpc": handler_call_details.method, "status": "UNAUTHENTICATED"}
                )
                refuse(context, "UNAUTHENTICATED", f"{API_KEY_HEADER}: {what}")
                return None
            wait_s = await self._limiter(key_id)
            if wait_s > 0:
                log.warning(
                    "rate limited",
                    extra={
                        "rpc": handler_call_details.method,
                        "status": "RESOURCE_EXHAUSTED",
                        "key_id": key_id,
                    },
                )
                refuse(
                    context,
                    "RESOURCE_EXHAUSTED",
                    f"rate limit of {self._keys.rate_limit.per_s:g}/s for key {key_id!r}; retry in "
                    f"{wait_s:.2f} s",
                )
                return None
            token = current_key_id.set(key_id)
            try:
                return await inner(request, context)
            finally:
                current_key_id.reset(token)

        return grpc.unary_unary_rpc_method_handler(
            guarded,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
