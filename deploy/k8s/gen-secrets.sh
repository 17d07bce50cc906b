#!/usr/bin/env bash
# Write placeholder Secrets for deploy/k8s: a throw-away CA with a TLS key and certificate for the gateway's
# public name (used by the Ingress), one random API key (its SHA-256 goes into security.yaml, the gateway's
# `security` config section; the key itself into api-keys.txt, to hand to a client, never into the cluster),
# the key that signs the gateway's session tokens, and a Redis password with the gateway's Redis URL.
#
#   deploy/k8s/gen-secrets.sh [--force] [DIR]     (default: deploy/k8s/secrets)
#   kubectl apply -k deploy/k8s/secrets            (creates the Secrets the manifests reference by name)
#
# DIR is gitignored: nothing secret is ever committed. The manifests render without it (they only name the
# Secrets); a test cluster runs with these placeholders, production creates the same Secrets from its secret
# manager. The names carry no content hash: after rotating one, `kubectl rollout restart` the pods using it.
# Existing files are kept unless --force.
set -euo pipefail
force=0
if [[ "${1:-}" == "--force" ]]; then force=1; shift; fi
out="${1:-$(dirname "$0")/secrets}"
command -v openssl >/dev/null || { echo "openssl is required" >&2; exit 1; }
files=(tls.crt tls.key ca.crt security.yaml api-keys.txt session-key redis.conf redis-url kustomization.yaml)
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
# Redis (components/redis): the server reads its password from redis.conf; the gateway gets the whole URL.
redis_password="$(openssl rand -hex 32)"
printf 'requirepass %s\n' "$redis_password" > "$out/redis.conf"
printf 'redis://:%s@redis:6379/0' "$redis_password" > "$out/redis-url"
cat > "$out/kustomization.yaml" <<'YAML'
# Made by deploy/k8s/gen-secrets.sh: the Secrets deploy/k8s references by name. kubectl apply -k <this dir>
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: liveness
generatorOptions:
  disableNameSuffixHash: true
secretGenerator:
  - name: liveness-tls
    type: kubernetes.io/tls
    files: [tls.crt, tls.key, ca.crt]
  - name: liveness-api-keys
    files: [security.yaml]
  - name: liveness-gateway-session
    files: [session-key]
  - name: liveness-redis
    files: [redis.conf, url=redis-url]
YAML
echo "$out: placeholder CA, gateway TLS key/certificate (30 days), API key, session key, Redis password" \
  "written; kubectl apply -k $out" >&2
