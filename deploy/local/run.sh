#!/usr/bin/env bash
# `make run`: the whole system locally (see deploy/local/launcher/src/outreach_local/run.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
exec .venv/bin/python -m outreach_local.run "$@"
