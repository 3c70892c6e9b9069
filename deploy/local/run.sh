#!/usr/bin/env bash
# `make run`: starts the local system and stays up until Ctrl-C, then stops what it started.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
started_kafka=0
stop_all() {
  trap - EXIT INT TERM
  echo
  if [ "$started_kafka" = 1 ]; then bash deploy/local/kafka.sh stop || true; fi
  echo "[run] stopped"
}
trap stop_all EXIT INT TERM
if ! bash deploy/local/kafka.sh status >/dev/null 2>&1; then
  bash deploy/local/kafka.sh start
  started_kafka=1
fi
BOOTSTRAP=$(bash deploy/local/kafka.sh bootstrap)
.venv/bin/python -m servicekit.topic_admin --bootstrap "$BOOTSTRAP"
if [ -n "${DATABASE_URL:-}" ]; then db="PostgreSQL ($DATABASE_URL)"; else db="embedded SQLite under .local/data"; fi
cat <<MSG
[run] running:
  Kafka broker      $BOOTSTRAP  (KRaft, topics from contracts/topics.py)
  databases         $db
[run] Ctrl-C stops what this command started.
MSG
while true; do sleep 3600; done
