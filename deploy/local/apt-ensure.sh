#!/usr/bin/env bash
# Installs Debian packages for the commands that are missing, and nothing when all are there (idempotent):
#
#   bash deploy/local/apt-ensure.sh [--with-recommends] COMMAND=PACKAGE[,PACKAGE...] ...
#   e.g. bash deploy/local/apt-ensure.sh promtool=prometheus
#
# COMMAND is looked up on PATH (or is an absolute path). Runs apt-get (with sudo when not root) only if needed.
set -euo pipefail
recommends=--no-install-recommends
if [ "${1:-}" = --with-recommends ]; then recommends=--install-recommends; shift; fi
missing=()
for spec in "$@"; do
  cmd=${spec%%=*}
  packages=${spec#*=}
  if [ "${cmd:0:1}" = / ] && [ -x "$cmd" ]; then continue; fi
  if [ "${cmd:0:1}" != / ] && command -v "$cmd" >/dev/null 2>&1; then continue; fi
  missing+=(${packages//,/ })
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "[apt] installing Debian's ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "$recommends" "${missing[@]}" >/dev/null
