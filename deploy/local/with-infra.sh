#!/usr/bin/env bash
# Runs a command with the local Kafka broker and PostgreSQL up, then stops whatever this script started
# (a broker or database that was already running is left running).
#
#   bash deploy/local/with-infra.sh <command...>
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

started_kafka=0
started_pg=0
cleanup() {
  local rc=$?
  if [ "$started_kafka" = 1 ]; then bash deploy/local/kafka.sh stop || true; fi
  if [ "$started_pg" = 1 ]; then bash deploy/local/postgres.sh stop || true; fi
  exit $rc
}
trap cleanup EXIT INT TERM

if ! bash deploy/local/kafka.sh status >/dev/null 2>&1; then
  bash deploy/local/kafka.sh start
  started_kafka=1
fi
if ! bash deploy/local/postgres.sh status >/dev/null 2>&1; then
  bash deploy/local/postgres.sh start
  started_pg=1
else
  bash deploy/local/postgres.sh start >/dev/null  # idempotent: makes sure the role and databases exist
fi

export KAFKA_BOOTSTRAP_SERVERS=${KAFKA_BOOTSTRAP_SERVERS:-$(bash deploy/local/kafka.sh bootstrap)}
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-$(bash deploy/local/postgres.sh url outreach_test)}
.venv/bin/python -m outreach_ops.topic_admin --bootstrap "$KAFKA_BOOTSTRAP_SERVERS"
"$@"
