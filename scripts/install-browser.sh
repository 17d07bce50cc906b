#!/usr/bin/env bash
# Install the browser for tests/web: Debian's chromium and its chromedriver (/usr/bin/chromium,
# /usr/bin/chromedriver). The browser test drives them with selenium through that driver path, so nothing is
# downloaded at test time (no Selenium Manager, no browser hub).
#
#   scripts/install-browser.sh            install when missing (as root, or through passwordless sudo)
#   scripts/install-browser.sh --check    only report whether both are installed (exit 1 when not)
#
# Without them the browser test skips with the reason; CI calls this script before `make test` so it runs.
# Debian 12 (bookworm) or newer; Ubuntu's chromium is a snap and does not work here.
set -euo pipefail

if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 0
fi

installed() { [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; }

if installed; then
    echo "chromium and chromedriver are installed: $(/usr/bin/chromium --version 2>/dev/null || true)"
    exit 0
fi
if [[ "${1:-}" == "--check" ]]; then
    echo "chromium or chromedriver is missing: run scripts/install-browser.sh" >&2
    exit 1
fi

if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "installing chromium needs root: run as root or with passwordless sudo:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends chromium chromium-driver
installed
echo "installed: $(/usr/bin/chromium --version)"
