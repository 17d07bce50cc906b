"""liveness.security without a server: key hashing, token buckets, credential loading, the dev CA."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509

from gateway.devca import cli as devca_cli
from liveness.security import (
    ApiKeys,
    RateLimit,
    TokenBuckets,
    channel_credentials_from_env,
    hash_api_key,
    make_dev_ca,
    new_api_key,
    server_credentials_from_env,
)


def test_keys_are_stored_hashed_and_identified() -> None:
    key, digest = new_api_key()
    assert digest == hash_api_key(key) and digest.startswith("sha256:") and key not in digest
    keys = ApiKeys({"alice": digest, "bob": hash_api_key("other")})
    assert keys.enabled and keys.identify(key) == "alice" and keys.identify("other") == "bob"
    assert keys.identify(key + "x") is None and keys.identify("") is None
    assert not ApiKeys().enabled


@pytest.mark.parametrize("stored", ["plain-key", "sha256:abc", "sha256:" + "z" * 64, "md5:" + "0" * 64])
def test_stored_keys_must_be_sha256_hashes(stored: str) -> None:
    with pytest.raises(ValueError, match="api key 'k'"):
        ApiKeys({"k": stored})


def test_token_bucket_allows_bursts_then_the_sustained_rate_per_key() -> None:
    now = [0.0]
    buckets = TokenBuckets(RateLimit(per_s=2.0, burst=3), clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)  # one token every 0.5 s
    assert buckets.take("b") == 0.0  # another key has its own bucket
    now[0] += 0.5
    assert buckets.take("a") == 0.0 and buckets.take("a") > 0
    now[0] += 100.0
    assert [buckets.take("a") for _ in range(4)][-1] > 0  # refills only up to the burst


@pytest.mark.parametrize("kwargs", [{"per_s": 0}, {"burst": 0}])
def test_bad_rate_limits_fail(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RateLimit(**kwargs)  # type: ignore[arg-type]


def test_credentials_from_env(tmp_path: Path) -> None:
    ca = make_dev_ca(tmp_path, ["gateway"])
    cert, key = (str(p) for p in ca.certs["gateway"])
    assert server_credentials_from_env({}) is None and channel_credentials_from_env({}) is None
    assert server_credentials_from_env({"LIVENESS_TLS_CERT": cert, "LIVENESS_TLS_KEY": key}) is not None
    mtls = {"LIVENESS_TLS_CERT": cert, "LIVENESS_TLS_KEY": key, "LIVENESS_TLS_CLIENT_CA": str(ca.ca_cert)}
    assert server_credentials_from_env(mtls) is not None
    assert channel_credentials_from_env({"GATEWAY_BACKEND_CA": str(ca.ca_cert)}) is not None
    with pytest.raises(ValueError, match="both"):
        server_credentials_from_env({"LIVENESS_TLS_CERT": cert})
    with pytest.raises(ValueError, match="CLIENT_CA needs"):
        server_credentials_from_env({"LIVENESS_TLS_CLIENT_CA": str(ca.ca_cert)})
    with pytest.raises(ValueError, match="both the certificate and the key"):
        channel_credentials_from_env({"GATEWAY_BACKEND_CA": str(ca.ca_cert), "GATEWAY_BACKEND_CERT": cert})
    with pytest.raises(ValueError, match="cannot read"):
        server_credentials_from_env({"LIVENESS_TLS_CERT": cert, "LIVENESS_TLS_KEY": str(tmp_path / "nope")})


def test_dev_ca_signs_certificates_for_the_hosts(tmp_path: Path) -> None:
    ca = make_dev_ca(tmp_path, ["iqa"], hosts=("localhost", "127.0.0.1", "iqa.liveness.svc"))
    root = x509.load_pem_x509_certificate(ca.ca_cert.read_bytes())
    leaf = x509.load_pem_x509_certificate(ca.certs["iqa"][0].read_bytes())
    leaf.verify_directly_issued_by(root)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"iqa", "localhost", "iqa.liveness.svc"} <= set(names.get_values_for_type(x509.DNSName))
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert (ca.certs["iqa"][1].stat().st_mode & 0o777) == 0o600 and (
        ca.ca_key.stat().st_mode & 0o777
    ) == 0o600


def test_dev_ca_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(devca_cli, ["--out", str(tmp_path), "--api-key", "backend"])
    assert result.exit_code == 0, result.output
    for name in ("ca", "gateway", "iqa", "cnn2d", "temporal", "voxel3d", "texture", "client"):
        assert (tmp_path / f"{name}.pem").is_file()
    key = (tmp_path / "api-key-backend.txt").read_text().strip()
    assert hash_api_key(key) in result.output and key not in result.output
    assert "LIVENESS_TLS_CLIENT_CA=" in result.output


def test_wired_as_liveness_dev_ca(tmp_path: Path) -> None:
    from liveness.cli import main

    result = CliRunner().invoke(main, ["dev-ca", "--out", str(tmp_path), "--days", "2"])
    assert result.exit_code == 0, result.output
    root = x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes())
    x509.load_pem_x509_certificate((tmp_path / "gateway.pem").read_bytes()).verify_directly_issued_by(root)
