#!/usr/bin/env bash
# Build one serving image per service with podman, from the repository root.
#
#   deploy/build-images.sh [--runtime PATH] [--base-image IMAGE] [--tag TAG] [--python PY] [--keep-cache]
#                          [--ca-bundle FILE] [SERVICE ...]
#
# Without SERVICE: every registered test (`python -m liveness.registry`, read with PY) and the gateway.
#
# 1. Base image: deploy/base-image/build.sh when BASE_IMAGE is not in local storage yet.
# 2. Wheels: the serving requirements (deploy/requirements.py; never the train/test extras) are downloaded
#    or built into build/wheels (gitignored) by pip running on BASE_IMAGE's own Python, in a container on the
#    host's network, so environment markers are those of the interpreter that installs them (the host's
#    Python may differ: redis needs async-timeout only below Python 3.11.3). The host's CA bundle
#    (--ca-bundle, default /etc/ssl/certs/ca-certificates.crt; '' mounts none) is mounted for TLS to the
#    package index, and build/pip-cache keeps downloads between builds. The images install the wheels with
#    --no-index. Versions are constrained to the ones in the venv of PY (the versions the tests ran
#    against) when that venv exists.
# 3. `podman build --build-arg SERVICE=<name> -f services/Dockerfile .` (one Dockerfile for every service)
#    -> localhost/liveness-<name>:TAG, then dangling images (the layer cache included) are pruned so
#    repeated builds do not pile up, unless --keep-cache.
# --runtime is an OCI runtime for the wheel container and the RUN steps (a sandbox without CAP_SYS_RESOURCE
# needs a wrapper that drops rlimits); by default podman uses its own.
set -euo pipefail
cd "$(dirname "$0")/.."

runtime=""
base_image="localhost/liveness-base:bookworm"
tag="dev"
py=".venv/bin/python"
prune=1
ca_bundle="/etc/ssl/certs/ca-certificates.crt"
services=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runtime) runtime="$2"; shift 2 ;;
    --base-image) base_image="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    --python) py="$2"; shift 2 ;;
    --keep-cache) prune=0; shift ;;
    --ca-bundle) ca_bundle="$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) echo "unknown option: $1" >&2; exit 2 ;;
    *) services+=("$1"); shift ;;
  esac
done
[[ -x "$py" ]] || py="$(command -v python3)"
if [[ ${#services[@]} -eq 0 ]]; then
  registered="$("$py" -m liveness.registry)" \
    || { echo "name the services, or install the project (make install)" >&2; exit 2; }
  mapfile -t services <<< "$registered"
  services+=(gateway)
fi
if [[ -n "$ca_bundle" && ! -f "$ca_bundle" ]]; then
  echo "CA bundle $ca_bundle not found (--ca-bundle FILE, or '' for none)" >&2
  exit 2
fi
podman_args=()
[[ -z "$runtime" ]] || podman_args+=(--runtime "$runtime")

if ! podman image exists "$base_image"; then
  deploy/base-image/build.sh --tag "$base_image"
fi

wheels="build/wheels"
mkdir -p "$wheels" build/pip-cache
# Rewrite a file only when its content changes: its mtime decides whether the wheels are rebuilt.
update() { if cmp -s "$1" "$2"; then rm -f "$1"; else mv "$1" "$2"; fi; }
"$py" deploy/requirements.py > "$wheels/requirements.txt.new"
update "$wheels/requirements.txt.new" "$wheels/requirements.txt"
# face_recognition names the dlib sdist (a long compile); dlib-bin ships the same module (see Makefile).
echo "face_recognition==1.3.0" > "$wheels/requirements-nodeps.txt.new"
update "$wheels/requirements-nodeps.txt.new" "$wheels/requirements-nodeps.txt"
{ "$py" -m pip freeze --exclude-editable 2>/dev/null || true; } | grep -v '^-e ' > "$wheels/constraints.txt.new" || true
update "$wheels/constraints.txt.new" "$wheels/constraints.txt"
stamp="$wheels/.complete"
if [[ ! -f "$stamp" || "$wheels/requirements.txt" -nt "$stamp" || "$wheels/constraints.txt" -nt "$stamp" ]]; then
  echo "wheels -> $wheels (pip on $base_image's Python)" >&2
  # Start empty so a requirement dropped from the list leaves no wheel behind in the build context.
  rm -f "$wheels"/*.whl
  certs=()
  [[ -z "$ca_bundle" ]] || certs=(-v "$(realpath "$ca_bundle"):/etc/ssl/certs/ca-certificates.crt:ro"
    -e PIP_CERT=/etc/ssl/certs/ca-certificates.crt)
  podman "${podman_args[@]}" run --rm --network host "${certs[@]}" \
    -v "$PWD/$wheels:/wheels" -v "$PWD/build/pip-cache:/pip-cache" -e PIP_CACHE_DIR=/pip-cache \
    -e PIP_DISABLE_PIP_VERSION_CHECK=1 "$base_image" sh -ec '
      python3 -m venv /tmp/pip-venv
      /tmp/pip-venv/bin/pip wheel -q --use-pep517 -w /wheels -r /wheels/requirements.txt \
        -c /wheels/constraints.txt
      /tmp/pip-venv/bin/pip wheel -q --use-pep517 --no-deps -w /wheels -r /wheels/requirements-nodeps.txt'
  touch "$stamp"
fi

for name in "${services[@]}"; do
  [[ -f "services/$name/$name/__main__.py" ]] || { echo "$name: services/$name/$name/__main__.py is missing" >&2; exit 1; }
  echo "build localhost/liveness-$name:$tag" >&2
  podman "${podman_args[@]}" build --format docker --layers \
    --build-arg "BASE_IMAGE=$base_image" --build-arg "SERVICE=$name" \
    -f services/Dockerfile -t "localhost/liveness-$name:$tag" .
done
[[ $prune -eq 0 ]] || podman image prune -f >/dev/null
podman images --filter reference='localhost/liveness-*' --format '{{.Repository}}:{{.Tag}} {{.Size}}'
