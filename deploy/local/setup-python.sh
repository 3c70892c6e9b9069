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
# Bytecode for every module a process may import, compiled here once: 7-8 s on 2 cores for a new .venv, ~3 s when
# nothing is out of date. The sync does not compile what it installs, nothing compiles the project's own packages
# (installed editable), and where PYTHONDONTWRITEBYTECODE is set (in some CI shells; our images set it too, after pip
# compiled what it installed there) Python never caches what it compiles: each process then compiled ~1,200 modules
# from source at its start, 3.0 s of CPU for the leads consumers against 1.0 s from bytecode. The test suite and
# `make run` start hundreds of such processes.
echo "[setup] compiling bytecode (what is missing or out of date)"
purelib=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if ! .venv/bin/python -m compileall -q -j 0 "$purelib" contracts libs services deploy/local/launcher examples \
    >/dev/null; then
  echo "[setup] some files did not compile (above); Python compiles them when they are imported"
fi
echo "[setup] python environment ready: .venv"
