#!/usr/bin/env bash
# Creates (or refreshes) the single development environment .venv with every local package
# installed editable and the third-party pins from requirements/dev.lock. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
# requirements/dev.lock is resolved for Python 3.11: another minor version would install wheels built for it, or
# fail half way through. Say so at once instead.
if ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
  echo "[setup] Python 3.11 is required (found: $("$PY" --version 2>&1 || echo none)); install python3.11 or set" \
       "PYTHON=/path/to/python3.11" >&2
  exit 1
fi
UV_HOME=.local/uv
if ! command -v uv >/dev/null 2>&1 && [ ! -x "$UV_HOME/bin/uv" ]; then
  # uv goes into a virtual environment of its own: a distribution's Python (Debian 12, Ubuntu 24.04) refuses
  # system-wide pip installs (PEP 668, "externally managed"); a pyenv or python.org Python takes this as well.
  echo "[setup] installing uv (pinned) into $UV_HOME"
  if ! "$PY" -m venv "$UV_HOME"; then
    echo "[setup] '$PY -m venv' failed: install your distribution's venv package (Debian/Ubuntu: python3-venv)" >&2
    exit 1
  fi
  "$UV_HOME/bin/python" -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
fi
UV=$(command -v uv || echo "$UV_HOME/bin/uv")
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
