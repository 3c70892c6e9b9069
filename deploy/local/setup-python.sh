#!/usr/bin/env bash
# Creates (or refreshes) the single development environment .venv with every local package
# installed editable and the third-party pins from requirements/dev.lock. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The interpreter of .venv: PYTHON when set; else the distribution's /usr/bin/python3.11 when there is one; else
# python3.11 (or python3) on PATH. A distribution builds its interpreter with profile-guided and link-time
# optimisation, as the images' base does; pyenv does not unless asked. On this project's 2-core host, with the same
# code, the distribution's Debian 12 build ran the pipeline benchmark's burst at 7-18 % less CPU per lead than a
# pyenv build ahead of it on PATH (docs/PERFORMANCE.md): the figures and the tests then run on what ships.
if [ -n "${PYTHON:-}" ]; then
  PY=$PYTHON
elif [ -x /usr/bin/python3.11 ]; then
  PY=/usr/bin/python3.11
else
  PY=python3.11
  command -v "$PY" >/dev/null || PY=python3
fi
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
  # A distribution's interpreter without its venv package fails half way: then python3.11 on PATH, in a clean dir.
  if ! "$PY" -m venv "$UV_HOME" \
      && ! { command -v python3.11 >/dev/null && rm -rf "$UV_HOME" && python3.11 -m venv "$UV_HOME"; }; then
    echo "[setup] '$PY -m venv' failed (and python3.11 on PATH could not make one either): install your" \
         "distribution's venv package (Debian/Ubuntu: python3-venv)" >&2
    exit 1
  fi
  "$UV_HOME/bin/python" -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
fi
UV=$(command -v uv || echo "$UV_HOME/bin/uv")
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $PY ($("$PY" --version 2>&1))"
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
# -q: only the files that fail are listed.
if ! .venv/bin/python -m compileall -q -j 0 "$purelib" contracts libs services deploy/local/launcher examples; then
  echo "[setup] the files listed above did not compile; Python compiles them when they are imported" >&2
fi
echo "[setup] python environment ready: .venv"
