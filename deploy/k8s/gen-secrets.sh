#!/usr/bin/env bash
# Write placeholder secret files for the kustomize secretGenerator: a throw-away CA, a TLS key and
# certificate for the gateway (signed by that CA), and one random API key.
#
#   deploy/k8s/gen-secrets.sh [--force] [KUSTOMIZE_BASE_DIR]     (default: deploy/k8s/base)
#
# The files land in <dir>/secrets/, which is gitignored: nothing secret is ever committed. They make the
# manifests render and a test cluster run; production replaces them with real material before rendering.
# Existing files are kept unless --force.
set -euo pipefail
force=0
if [[ "${1:-}" == "--force" ]]; then force=1; shift; fi
base="${1:-$(dirname "$0")/base}"
out="$base/secrets"
command -v openssl >/dev/null || { echo "openssl is required" >&2; exit 1; }
if [[ $force -eq 0 && -s "$out/tls.crt" && -s "$out/tls.key" && -s "$out/ca.crt" && -s "$out/api-keys" ]]; then
  echo "$out: placeholders already there (--force to regenerate)" >&2
  exit 0
fi
mkdir -p "$out"
chmod 700 "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=liveness placeholder CA" -keyout "$tmp/ca.key" -out "$out/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=gateway" -keyout "$out/tls.key" -out "$tmp/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:gateway,DNS:gateway.liveness,DNS:gateway.liveness.svc,DNS:localhost,IP:127.0.0.1\n' \
  > "$tmp/san.ext"
openssl x509 -req -in "$tmp/tls.csr" -CA "$out/ca.crt" -CAkey "$tmp/ca.key" -CAserial "$tmp/ca.srl" -CAcreateserial -days 30 \
  -extfile "$tmp/san.ext" -out "$out/tls.crt" 2>/dev/null
# One key per line; clients send one of them. Placeholder only.
openssl rand -hex 32 > "$out/api-keys"
echo "$out: placeholder CA, gateway TLS key/certificate (30 days) and API key written" >&2
