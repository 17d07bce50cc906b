#!/usr/bin/env bash
# Build a Debian image locally from the distribution's packages: no image registry is needed.
#
#   deploy/base-image/build.sh [--tag IMAGE] [--include PKG,...] [--cmd JSON] [--suite bookworm]
#                              [--mirror URL] [--workdir DIR]
#
# debootstrap makes a minimal Debian root file system with the packages --include names; `podman import`
# turns it into an image (PATH and LANG set, CMD from --cmd). By default that is the base image every
# service image starts FROM: the distribution's Python (3.11 on bookworm, the version the project pins) and
# python3-venv; services/Dockerfile takes it as `--build-arg BASE_IMAGE=<tag>`, and any Debian-based image
# with python3 and python3-venv works too. deploy/verify.sh makes its Redis image the same way:
#   deploy/base-image/build.sh --tag localhost/liveness-redis:bookworm --include redis-server \
#     --cmd '["redis-server"]'
set -euo pipefail

tag="localhost/liveness-base:bookworm"
include="python3,python3-venv"
cmd='["python3"]'
suite="bookworm"
mirror="http://deb.debian.org/debian"
workdir="build/base-image"
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
    --include) include="$2"; shift 2 ;;
    --cmd) cmd="$2"; shift 2 ;;
    --suite) suite="$2"; shift 2 ;;
    --mirror) mirror="$2"; shift 2 ;;
    --workdir) workdir="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
for tool in debootstrap podman tar; do
  command -v "$tool" >/dev/null || { echo "$tool is required (apt-get install -y debootstrap podman)" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "debootstrap needs root" >&2; exit 1; }

# One root file system per build, so two images can be made at once; its top is the image's `/`.
mkdir -p "$workdir"
rootfs="$(mktemp -d "$workdir/rootfs.XXXXXX")"
trap 'rm -rf "$rootfs"' EXIT
chmod 0755 "$rootfs"

echo "debootstrap $suite ($mirror) + $include -> $rootfs" >&2
debootstrap --variant=minbase --include="$include" "$suite" "$rootfs" "$mirror" >&2

# Nothing in a serving image installs Debian packages later: drop the package lists, caches, docs and locales.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*
find "$rootfs"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'C.*' -exec rm -rf {} +

tar --numeric-owner -C "$rootfs" -c . | podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change "CMD $cmd" \
  - "$tag" >&2
echo "$tag"
