#!/usr/bin/env bash
# Builds every image of the repository with podman from the one Dockerfile (deploy/images/Dockerfile):
#
#   bash deploy/images/build.sh            # = make images: tools, wheelhouse, base image, the six images, sizes
#   bash deploy/images/build.sh tools      # podman, runc, debootstrap from Debian's packages (idempotent)
#   bash deploy/images/build.sh base       # the local base image only
#   bash deploy/images/build.sh wheels     # the wheelhouse only (what `docker build` needs beside the Dockerfile)
#
# BASE_IMAGE picks the base (default: localhost/outreach-base:bookworm-<digest>, a debootstrap'd Debian 12 with
# its Python 3.11, made here by base.sh because no image registry is reachable; python:3.11-slim works where one
# is).
# TAG (default dev) tags the images localhost/outreach-<image>:TAG.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
IMAGES=(leads audits writeback unibox dashboard plusvibe-simulator)
TAG=${TAG:-dev}
source deploy/images/podman-env.sh
BASE_IMAGE=${BASE_IMAGE:-$OUTREACH_LOCAL_BASE}

tools() {
  # With Debian's recommends (netavark, aardvark-dns, fuse-overlayfs, ...): the set the builds were tried with.
  bash deploy/local/apt-ensure.sh --with-recommends podman=podman runc=runc debootstrap=debootstrap
}

base() {
  if [ "$BASE_IMAGE" = "$OUTREACH_LOCAL_BASE" ]; then
    bash deploy/images/base.sh
  fi
}

wheels() {
  .venv/bin/python deploy/images/wheelhouse.py
}

build_all() {
  wheels
  local started total=0
  for image in "${IMAGES[@]}"; do
    started=$(date +%s)
    echo "[images] building localhost/outreach-$image:$TAG (base $BASE_IMAGE)"
    podman build --quiet --layers --format docker --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "SERVICE=$image" \
      -f deploy/images/Dockerfile -t "localhost/outreach-$image:$TAG" . >/dev/null
    echo "[images]   built in $(( $(date +%s) - started ))s"
  done
  echo "[images] sizes (the layers below the service's package are shared by every image):"
  for image in "${IMAGES[@]}"; do
    printf '  %-40s %s\n' "localhost/outreach-$image:$TAG" \
      "$(podman image inspect --format '{{.Size}}' "localhost/outreach-$image:$TAG" | awk '{printf "%.0f MB", $1/1e6}')"
  done
  printf '  %-40s %s\n' "$BASE_IMAGE (base)" \
    "$(podman image inspect --format '{{.Size}}' "$BASE_IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
}

case "${1:-all}" in
  tools) tools ;;
  base) tools; base ;;
  wheels) wheels ;;
  all) tools; base; build_all ;;
  *) echo "usage: $0 [all|tools|base|wheels]" >&2; exit 2 ;;
esac
