#!/usr/bin/env bash
# Installs Debian's chromium for the dashboard's browser tests (Playwright drives it by executable path; no
# browser download). Idempotent: does nothing when /usr/bin/chromium is already there.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "[setup-browser] chromium present: /usr/bin/chromium"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "[setup-browser] installing Debian's chromium"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "[setup-browser] chromium ready: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
