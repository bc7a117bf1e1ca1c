#!/usr/bin/env bash
# Debian's Chromium for the browser tests (nothing may download a browser at run time).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: Chromium is not installed and can't be installed here (needs root + apt);" >&2
  echo "      the browser tests will be skipped. Install it with: sudo apt-get install chromium" >&2
  exit 0
fi
echo "==> installing Chromium (apt) for the browser tests"
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
