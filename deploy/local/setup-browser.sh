#!/usr/bin/env bash
# Installs Debian's chromium for the dashboard's browser tests (Playwright drives it by executable path; no
# browser download). Idempotent: does nothing when /usr/bin/chromium is already there.
set -euo pipefail
bash "$(dirname "${BASH_SOURCE[0]}")/apt-ensure.sh" /usr/bin/chromium=chromium,fonts-dejavu-core
echo "[setup-browser] chromium ready: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
