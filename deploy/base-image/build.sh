#!/usr/bin/env bash
# Build the Debian base image every service image starts FROM, locally: no image registry is needed.
#
#   deploy/base-image/build.sh [--tag IMAGE] [--suite bookworm] [--mirror URL] [--workdir DIR]
#
# debootstrap makes a minimal Debian root file system with the distribution's Python (3.11 on bookworm,
# the version the project pins) and python3-venv; `podman import` turns it into an image. The Dockerfiles
# take it as `--build-arg BASE_IMAGE=<tag>`; any Debian-based image with python3 and python3-venv works too.
set -euo pipefail

tag="localhost/liveness-base:bookworm"
suite="bookworm"
mirror="http://deb.debian.org/debian"
workdir="build/base-image"
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tag) tag="$2"; shift 2 ;;
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

rootfs="$workdir/rootfs"
rm -rf "$rootfs"
mkdir -p "$rootfs"
trap 'rm -rf "$rootfs"' EXIT

echo "debootstrap $suite ($mirror) -> $rootfs" >&2
debootstrap --variant=minbase --include=python3,python3-venv "$suite" "$rootfs" "$mirror" >&2

# Nothing in a serving image installs Debian packages later: drop the package lists, caches, docs and locales.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*
find "$rootfs"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'C.*' -exec rm -rf {} +

tar --numeric-owner -C "$rootfs" -c . | podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  - "$tag" >&2
echo "$tag"
