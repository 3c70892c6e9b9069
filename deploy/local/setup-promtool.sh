#!/usr/bin/env bash
# Installs promtool (Debian's `prometheus` package) for the alert rules' unit tests
# (tests/deploy/test_deploy_alerts_promtool.py). Idempotent: does nothing when promtool is on PATH.
set -euo pipefail
bash "$(dirname "${BASH_SOURCE[0]}")/apt-ensure.sh" promtool=prometheus
echo "[setup-promtool] promtool ready: $(promtool --version 2>&1 | head -n 1)"
