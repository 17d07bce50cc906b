#!/usr/bin/env bash
# Verify the deployment: render, validate, scan, and (where podman is available) build and run it.
#
#   deploy/verify.sh [--static] [--runtime PATH] [--no-build] [--keep] [--port N] [--tag TAG] [--require-all]
#                    [--models TEST=DIR ...] [--redis-image IMAGE]
#
#   1. render    `kubectl kustomize` of deploy/k8s/overlays/{dev,prod} -> build/k8s/<overlay>.yaml (no step
#                before: the Secrets are only referenced; deploy/k8s/gen-secrets.sh makes them at deploy time)
#   2. validate  kubernetes-validate --strict against the Kubernetes 1.32 schema, offline
#   3. policy    checkov on the rendered manifests and services/Dockerfile: no failed check allowed
#                (skips below, each with its reason); then the CI checks, pytest tests/deploy tests/contract
#   4. images    deploy/build-images.sh (base image, wheels, one image per service), unless --no-build
#   5. smoke     the stack as containers in one podman pod, run as in Kubernetes (read-only root, non-root,
#                no capabilities), each container's grpc.health.v1 probed until SERVING, then
#                `liveness check --json --gateway 127.0.0.1:PORT samples/` must answer for every sample;
#                a test without a trained model is left out (a failure with --require-all);
#                --models TEST=DIR mounts DIR over the image's model folder (a candidate not yet committed);
#                two gateway containers (PORT and PORT+10) share a Redis container and one session key: a
#                session made on one is redeemed on the other, then refused as already used on the first.
#                The Redis image is Debian's redis-server package made locally by deploy/base-image/build.sh
#                (no registry); --redis-image IMAGE runs IMAGE instead (pulled when it is not in local
#                storage, e.g. docker.io/library/redis:7.2.5-bookworm, the one components/redis pins)
#
# Steps 4-5 run only when podman is installed and --static is not given. --runtime is an OCI runtime for
# podman (a sandbox without CAP_SYS_RESOURCE needs one that drops rlimits); by default podman's own.
# checkov comes from PATH, else it is installed once into build/checkov-venv (it is too heavy for CI's
# venv, so CI runs only the lighter policy rules in tests/deploy).
set -euo pipefail
cd "$(dirname "$0")/.."

static=0
runtime=""
build=1
keep=0
port=50151
tag="dev"
redis_image=""
py=".venv/bin/python"
require_all=0
declare -A model_dirs=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --static) static=1; shift ;;
    --runtime) runtime="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --keep) keep=1; shift ;;
    --port) port="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    --require-all) require_all=1; shift ;;
    --redis-image) redis_image="$2"; shift 2 ;;
    --models)
      [[ "$2" == *=* && -d "${2#*=}" ]] || { echo "--models needs TEST=DIR with an existing DIR" >&2; exit 2; }
      model_dirs["${2%%=*}"]="$(cd "${2#*=}" && pwd)"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -x "$py" ]] || { echo "$py not found: run 'make install-test' first" >&2; exit 1; }
step() { printf '\n== %s\n' "$*" >&2; }

step "1/5 render"
command -v kubectl >/dev/null || { echo "kubectl is required (apt-get install -y kubectl)" >&2; exit 1; }
mkdir -p build/k8s
for overlay in dev prod; do
  kubectl kustomize "deploy/k8s/overlays/$overlay" > "build/k8s/$overlay.yaml"
  echo "build/k8s/$overlay.yaml: $(grep -c '^kind:' "build/k8s/$overlay.yaml") objects" >&2
done

step "2/5 validate (Kubernetes 1.32 schema, strict, offline)"
for overlay in dev prod; do
  "$py" -m kubernetes_validate -k 1.32.0 --strict --quiet "build/k8s/$overlay.yaml"
  echo "build/k8s/$overlay.yaml: valid" >&2
done

step "3/5 policy"
checkov="$(command -v checkov || true)"
if [[ -z "$checkov" ]]; then
  if [[ ! -x build/checkov-venv/bin/checkov ]]; then
    echo "installing checkov into build/checkov-venv (once)" >&2
    python3 -m venv build/checkov-venv
    build/checkov-venv/bin/pip install -q "checkov==3.3.30"  # the version the policy step was last run with
  fi
  checkov=build/checkov-venv/bin/checkov
fi
# Skipped, with reasons:
#   CKV_K8S_43 image digests: images are built locally and pinned by tag per overlay; a registry release
#              pins digests with `kustomize edit set image NAME@sha256:...`.
#   CKV_K8S_15 imagePullPolicy Always (dev only): dev runs images that exist only in local storage.
skip_prod="CKV_K8S_43"
skip_dev="CKV_K8S_43,CKV_K8S_15"
"$checkov" --quiet --compact --skip-download --framework kubernetes -f build/k8s/prod.yaml --skip-check "$skip_prod"
"$checkov" --quiet --compact --skip-download --framework kubernetes -f build/k8s/dev.yaml --skip-check "$skip_dev"
"$checkov" --quiet --compact --skip-download --framework dockerfile -f services/Dockerfile
"$py" -m pytest -q -p no:randomly tests/deploy tests/contract/test_compat.py

if [[ $static -eq 1 ]]; then
  echo "static checks passed (--static: no images built)" >&2
  exit 0
fi
if ! command -v podman >/dev/null; then
  echo "static checks passed; podman not installed, so no image build or container run" >&2
  exit 0
fi
podman=(podman)
[[ -z "$runtime" ]] || podman+=(--runtime "$runtime")

# A test joins the smoke stack only when its model artifact is there (models are trained separately).
registered="$("$py" -m liveness.registry)"  # every registered test, one per line
tests=()
for name in $registered; do
  if [[ -n "${model_dirs[$name]:-}" ]] || compgen -G "services/$name/models/*" >/dev/null; then
    tests+=("$name")
  else
    echo "SKIPPED $name: services/$name/models/ is empty (train it first)" >&2
    [[ $require_all -eq 0 ]] || exit 1
  fi
done

if [[ $build -eq 1 ]]; then
  step "4/5 images"
  build_args=(--tag "$tag")
  [[ -z "$runtime" ]] || build_args+=(--runtime "$runtime")
  deploy/build-images.sh "${build_args[@]}" "${tests[@]}" gateway
fi
# Redis for the two gateways: Debian's redis-server in a local image unless --redis-image names one (built or
# pulled once, whatever --no-build says: the smoke cannot run without it).
if [[ -z "$redis_image" ]]; then
  redis_image="localhost/liveness-redis:bookworm"
  podman image exists "$redis_image" || deploy/base-image/build.sh --tag "$redis_image" \
    --include redis-server --cmd '["redis-server"]' >/dev/null
fi
podman image exists "$redis_image" || podman pull "$redis_image" >/dev/null

port_b=$((port + 10))
step "5/5 smoke: ${tests[*]} + 2 gateways + redis in podman pod liveness-smoke, gateways on 127.0.0.1:$port, :$port_b"
pod="liveness-smoke"
cleanup() { [[ $keep -eq 1 ]] || "${podman[@]}" pod rm -f -t 5 "$pod" >/dev/null 2>&1 || true; }
"${podman[@]}" pod rm -f -t 5 "$pod" >/dev/null 2>&1 || true
trap cleanup EXIT
# The gateway on PORT, each test on PORT+i (published only so this script can probe its health).
publish=(-p "127.0.0.1:$port:50051" -p "127.0.0.1:$port_b:50052")
for i in $(seq 1 ${#tests[@]}); do publish+=(-p "127.0.0.1:$((port + i)):$((50060 + i))"); done
"${podman[@]}" pod create --name "$pod" "${publish[@]}" >/dev/null
# As the Kubernetes securityContext runs them: read-only root, non-root, no capabilities, no escalation.
hardening=(--read-only --tmpfs /tmp:rw,size=64m --user 10001:10001 --cap-drop ALL
  --security-opt no-new-privileges)
# The cluster's fusion config, limited to the tests that run here.
"$py" -c '
import sys, yaml
config = yaml.safe_load(open("deploy/k8s/base/gateway/fusion.yaml"))
config["tests"] = {name: spec for name, spec in config["tests"].items() if name in sys.argv[1:]}
print(yaml.safe_dump(config, sort_keys=False))
' "${tests[@]}" > build/k8s/smoke-gateway.yaml
# Both gateways share Redis (in the pod's network namespace, on loopback) and one session-signing key.
session_key="$("$py" -c 'import secrets; print(secrets.token_hex(32))')"
gateway_env=(-e GATEWAY_CONFIG=/etc/liveness/gateway/fusion.yaml -e GATEWAY_REDIS_URL=redis://127.0.0.1:6379/0
  -e "GATEWAY_SESSION_KEY=$session_key")
"${podman[@]}" run -d --pod "$pod" --name "$pod-redis" "${hardening[@]}" "$redis_image" \
  redis-server --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
i=1
for name in "${tests[@]}"; do
  # One network namespace for the pod: each test listens on its own port, as its Service would map it.
  mount=()
  [[ -z "${model_dirs[$name]:-}" ]] || mount=(-v "${model_dirs[$name]}:/app/services/$name/models:ro")
  "${podman[@]}" run -d --pod "$pod" --name "$pod-$name" "${hardening[@]}" "${mount[@]}" \
    -e "LIVENESS_PORT=$((50060 + i))" -e "LIVENESS_METRICS_PORT=$((9090 + i))" \
    "localhost/liveness-$name:$tag" >/dev/null
  gateway_env+=(-e "${name^^}_ADDR=127.0.0.1:$((50060 + i))")
  i=$((i + 1))
done
for replica in a b; do
  inner=50051 metrics=9090
  [[ $replica == b ]] && inner=50052 metrics=9089
  "${podman[@]}" run -d --pod "$pod" --name "$pod-gateway-$replica" "${hardening[@]}" "${gateway_env[@]}" \
    -e "LIVENESS_PORT=$inner" -e "LIVENESS_METRICS_PORT=$metrics" \
    -v "$PWD/build/k8s/smoke-gateway.yaml:/etc/liveness/gateway/fusion.yaml:ro" \
    "localhost/liveness-gateway:$tag" >/dev/null
done

i=1
for name in "${tests[@]}" gateway-a gateway-b; do
  probe_port=$((port + i))
  [[ $name == gateway-a ]] && probe_port=$port
  [[ $name == gateway-b ]] && probe_port=$port_b
  i=$((i + 1))
  deadline=$((SECONDS + 300))
  # The probe the image's HEALTHCHECK runs (grpc.health.v1), from the host through the published port:
  # `podman healthcheck run` needs `podman exec`, which some sandboxed runtimes refuse.
  until "$py" -m liveness.healthcheck "127.0.0.1:$probe_port" >/dev/null 2>&1; do
    if [[ "$("${podman[@]}" inspect -f '{{.State.Running}}' "$pod-$name")" != "true" || $SECONDS -gt $deadline ]]; then
      echo "$name did not become healthy; its log:" >&2
      "${podman[@]}" logs --tail 40 "$pod-$name" >&2 || true
      exit 1
    fi
    sleep 2
  done
  echo "$name: healthy (grpc.health.v1 SERVING)" >&2
done

out="build/k8s/smoke.jsonl"
.venv/bin/liveness check --json --timeout 30 --gateway "127.0.0.1:$port" samples/ | tee "$out"
"$py" - "$out" "${tests[@]}" <<'EOF'
"""Every sample got a decision, and every deployed test answered it (no unavailable or error status)."""
import json
import sys

path, expected = sys.argv[1], set(sys.argv[2:])
lines = [json.loads(line) for line in open(path) if line.strip()]
assert lines, "no answers"
bad = []
for line in lines:
    if line.get("decision") not in ("live", "spoof", "uncertain"):
        bad.append(f"{line['path']}: no decision: {line}")
        continue
    missing = expected - set(line["tests"])
    broken = {n: t["status"] for n, t in line["tests"].items() if t["status"] in ("unavailable", "error")}
    if missing or broken:
        bad.append(f"{line['path']}: missing {sorted(missing)}, failing {broken}")
if bad:
    sys.exit("smoke test failed:\n" + "\n".join(bad))
print(f"smoke: {len(lines)} samples answered by {sorted(expected) or 'the gateway alone'}", file=sys.stderr)
EOF
# Across the replicas: a session made on one gateway is redeemed on the other (sessions live in the shared
# Redis), then a replay on the first is refused as already used.
"$py" - "127.0.0.1:$port" "127.0.0.1:$port_b" <<'EOF'
"""CreateSession on one gateway, Evaluate with it on the other, replay on the first; both ways."""
import asyncio
import sys

import grpc

from liveness.client import GatewayClient, clip_media
from liveness.v1 import liveness_pb2 as pb

frame = open("samples/astronaut.jpg", "rb").read()


async def main() -> None:
    async with GatewayClient(sys.argv[1]) as a, GatewayClient(sys.argv[2]) as b:
        for (made_on, maker), (redeemed_on, redeemer) in ((("A", a), ("B", b)), (("B", b), ("A", a))):
            session = await maker.create_session(timeout_s=10)
            clip = clip_media([(frame, 100 * i) for i in range(8)])
            try:
                reply = await redeemer.evaluate(clip, session=session, timeout_s=30)
            except grpc.aio.AioRpcError as exc:
                sys.exit(
                    f"smoke: a session made on gateway {made_on} was refused on {redeemed_on}: "
                    f"{exc.code().name} {exc.details()!r} (do both gateways reach one Redis?)"
                )
            assert reply.HasField("session"), reply
            decision = pb.Decision.Name(reply.decision)
            try:
                await maker.evaluate(clip, session=session, timeout_s=30)
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION, exc
                assert "already used" in exc.details(), exc
                refused = f"{exc.code().name} {exc.details()!r}"
            else:
                sys.exit(f"smoke: a session made on {made_on} and redeemed on {redeemed_on} was replayed")
            print(
                f"smoke: session made on gateway {made_on}, redeemed on {redeemed_on} ({decision}), "
                f"replayed on {made_on}: {refused}",
                file=sys.stderr,
            )
    print("smoke: sessions made on either gateway redeemed once on the other (shared Redis)", file=sys.stderr)


asyncio.run(main())
EOF
"${podman[@]}" ps --pod --filter "pod=$pod" --format '{{.Names}} {{.Status}}' >&2
echo "verify: all steps passed" >&2
