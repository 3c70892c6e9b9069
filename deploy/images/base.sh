#!/usr/bin/env bash
# The local base image localhost/outreach-base:bookworm-<digest of this script>: Debian 12 (minbase) with
# Debian's Python 3.11, its venv module and CA certificates, made with debootstrap from the Debian mirror apt
# already uses on this machine and imported into podman; documentation, manual pages and translations dropped.
# For machines that cannot pull python:3.11-slim. Idempotent (kept once made; REBUILD_BASE=1 makes it again).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/deploy/images/podman-env.sh"
NAME=$OUTREACH_LOCAL_BASE
if [ "${REBUILD_BASE:-0}" != 1 ] && podman image exists "$NAME"; then
  echo "[base] $NAME present"
  exit 0
fi
# The first Debian archive apt is configured with (deb822 sources or the one-line format).
mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
           | grep -v -- '-security' | head -n 1 || true)
if [ -z "$mirror" ]; then
  mirror=$(awk '$1 == "deb" && $2 !~ /security/ {print ($2 ~ /^\[/ ? $3 : $2); exit}' /etc/apt/sources.list \
             /etc/apt/sources.list.d/*.list 2>/dev/null || true)
fi
[ -n "$mirror" ] || { echo "[base] no Debian mirror found in apt's sources" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
started=$(date +%s)
echo "[base] debootstrap bookworm (minbase + python3, python3-venv, ca-certificates)"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$dir" "$mirror" \
  > "$dir.log" 2>&1 || { tail -n 20 "$dir.log" >&2; exit 1; }
rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/usr/share/doc/* \
  "$dir"/usr/share/man/* "$dir"/usr/share/locale/* "$dir"/usr/share/info/*
tar -C "$dir" -c . | podman import --quiet - "$NAME" >/dev/null
rm -f "$dir.log"
echo "[base] $NAME made in $(( $(date +%s) - started ))s"
