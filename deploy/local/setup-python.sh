#!/usr/bin/env bash
# Creates (or refreshes) the single development environment .venv with every local package
# installed editable and the third-party pins from requirements/dev.lock. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if ! command -v uv >/dev/null 2>&1; then
  echo "[setup] installing uv (pinned) with pip"
  "$PY" -m pip install --quiet "uv==0.13.9"
fi
UV=$(command -v uv || echo "$("$PY" -m site --user-base)/bin/uv")
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$UV" venv --quiet --python "$PY" .venv
fi
stamp=.venv/.lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s requirements/dev.lock "$stamp"; then
  echo "[setup] syncing .venv with requirements/dev.lock"
  "$UV" pip sync --quiet --python .venv/bin/python requirements/dev.lock
  cp requirements/dev.lock "$stamp"
fi
echo "[setup] python environment ready: .venv"
