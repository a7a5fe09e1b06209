#!/usr/bin/env bash
# Debian's chromium and its chromedriver, for the dashboard's browser tests (tests/e2e).
# Quick when they are there already; without root (or apt) it only says what is missing.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "chromium/chromedriver missing: apt-get install chromium chromium-driver (the browser tests skip)" >&2
  exit 0
fi
echo "installing chromium and chromium-driver (apt)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 \
  || { apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; }
