#!/usr/bin/env bash
# Recompiles requirements/runtime.lock (what the images install) from requirements/runtime.in: the third-party
# runtime dependencies of the local packages, hashed, without dev tools and without the local packages
# themselves (each image installs its own with --no-deps). Run after changing a package's `dependencies`.
set -euo pipefail
cd "$(dirname "$0")/../.."
local_packages=(outreach-contracts outreach-kit outreach-ops outreach-plusvibe outreach-copy outreach-leads outreach-audits
                outreach-writeback outreach-unibox outreach-dashboard)
args=()
for p in "${local_packages[@]}"; do args+=(--no-emit-package "$p"); done
uv pip compile requirements/runtime.in -o requirements/runtime.lock --python-version 3.11 \
  --python-platform x86_64-manylinux_2_28 --generate-hashes "${args[@]}" --quiet
echo "[runtime-lock] requirements/runtime.lock updated"
