#!/usr/bin/env bash
# Write placeholder secret files for the kustomize secretGenerator: a throw-away CA with a TLS key and
# certificate for the gateway's public name (used by the Ingress), one random API key (its SHA-256 goes into
# security.yaml, the gateway's `security` config section; the key itself into api-keys.txt, to hand to a
# client, never into the cluster) and the key that signs the gateway's session tokens.
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
files=(tls.crt tls.key ca.crt security.yaml api-keys.txt session-key)
present=0
for f in "${files[@]}"; do [[ -s "$out/$f" ]] && present=$((present + 1)); done
if [[ $force -eq 0 && $present -eq ${#files[@]} ]]; then
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
# The gateway stores only "sha256:<hex>" of each key (liveness.security.hash_api_key); clients send the key
# in the x-api-key header.
key="$(openssl rand -hex 32)"
printf 'placeholder %s\n' "$key" > "$out/api-keys.txt"
digest="$(printf '%s' "$key" | openssl dgst -sha256 -r | cut -d' ' -f1)"
cat > "$out/security.yaml" <<YAML
# Merged into the gateway config at pod start (liveness.yamlmerge). Placeholder from gen-secrets.sh.
security:
  api_keys:
    placeholder: "sha256:$digest"
  rate_limit:
    per_s: 10
    burst: 20
YAML
# GATEWAY_SESSION_KEY: hex, 32 bytes; shared by every gateway replica so a session opened on one pod is
# accepted by another.
openssl rand -hex 32 | tr -d '\n' > "$out/session-key"
echo "$out: placeholder CA, gateway TLS key/certificate (30 days), API key and session key written" >&2
