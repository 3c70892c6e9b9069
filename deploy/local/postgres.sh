#!/usr/bin/env bash
# Local PostgreSQL for development and tests, without Docker (Debian's postgresql package).
#
#   bash deploy/local/postgres.sh start     # reuse a reachable server, else install/start the Debian
#                                           # cluster; then create the roles + service databases
#   bash deploy/local/postgres.sh status    # exit 0 if reachable, 3 otherwise
#   bash deploy/local/postgres.sh stop      # stops the cluster only if this script started it
#   bash deploy/local/postgres.sh url NAME  # postgresql+asyncpg://outreach:outreach@127.0.0.1:PORT/NAME
#   bash deploy/local/postgres.sh app-url NAME  # the same as the DML-only role outreach_app
#
# Roles: `outreach` (password outreach) owns the databases and runs migrations (DDL, CREATEDB for tests);
# `outreach_app` (password outreach_app) is the DML-only runtime role of docker-compose.yml / deploy/k8s: no
# CREATEDB, owns nothing, gets its rights per schema from `python -m <service>.entrypoints.migrate`
# (DB_RUNTIME_ROLE). Both are ALTERed back to these settings on every start, so a hand-made role converges.
# Environment: PGPORT (5432), DATABASE_URL (if set and the server is reachable, it is used as is),
# PG_READY_TIMEOUT (30). Must run as root for install/start (the server itself runs as `postgres`).
# Server settings are left at their defaults (fsync, synchronous_commit) so figures are real;
# only max_connections is raised to 200.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE="$ROOT/.local/postgres"
MARKER="$STATE/started-by-script"
PGPORT=${PGPORT:-5432}
PG_READY_TIMEOUT=${PG_READY_TIMEOUT:-30}
ROLE=outreach
APP_ROLE=outreach_app
DATABASES=(leads audits writeback unibox outreach_test)
MIN_CONNECTIONS=200

say() { echo "[postgres] $*"; }
die() {
  echo "[postgres] ERROR: $*" >&2
  local log
  for log in /var/log/postgresql/postgresql-*-main.log; do
    [ -f "$log" ] || continue
    echo "[postgres] --- last 30 lines of $log ---" >&2
    tail -n 30 "$log" >&2 || true
  done
  exit 1
}

reachable() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h 127.0.0.1 -p "$PGPORT" -t 2
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$PGPORT") 2>/dev/null
  fi
}

cluster_version() {
  # Highest installed major version that has a `main` cluster config.
  local v best=""
  for v in /etc/postgresql/*/main; do
    [ -d "$v" ] || continue
    v=${v#/etc/postgresql/}
    v=${v%/main}
    if [ -z "$best" ] || [ "$v" -gt "$best" ]; then best=$v; fi
  done
  echo "$best"
}

# Runs SQL from stdin as the postgres superuser over the local socket.
psql_admin() {
  (cd / && su postgres -c "psql -X -q -v ON_ERROR_STOP=1 -p $PGPORT $*")
}

local_superuser_ok() {
  id postgres >/dev/null 2>&1 && echo 'SELECT 1' | psql_admin -tA >/dev/null 2>&1
}

install_postgres() {
  [ "$(id -u)" -eq 0 ] || die "PostgreSQL is not installed and installing needs root"
  command -v apt-get >/dev/null || die "PostgreSQL is not installed and apt-get is unavailable"
  say "installing Debian's postgresql package (apt-get update + install)"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
}

ensure_cluster() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(cluster_version)" ]; then
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
      install_postgres
    fi
    if [ -z "$(cluster_version)" ]; then
      # The package normally creates `main`; policy-restricted containers may skip it.
      local v
      v=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
      [ -n "$v" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
      say "creating cluster $v/main"
      pg_createcluster "$v" main -p "$PGPORT"
    fi
  fi
  local ver port
  ver=$(cluster_version)
  port=$(pg_conftool "$ver" main show port 2>/dev/null | sed -E 's/.*= *//; s/[^0-9]//g')
  if [ -n "$port" ] && [ "$port" != "$PGPORT" ]; then
    say "setting cluster $ver/main port $port -> $PGPORT"
    pg_conftool "$ver" main set port "$PGPORT"
  fi
}

wait_ready() {
  local deadline=$((SECONDS + PG_READY_TIMEOUT))
  until reachable; do
    [ $SECONDS -lt $deadline ] || die "PostgreSQL not accepting connections on 127.0.0.1:$PGPORT after ${PG_READY_TIMEOUT}s"
    sleep 0.3
  done
}

provision() {
  say "ensuring roles $ROLE (DDL), $APP_ROLE (DML only) and databases: ${DATABASES[*]}"
  {
    cat <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$ROLE';
  ELSE
    ALTER ROLE $ROLE LOGIN CREATEDB PASSWORD '$ROLE';
  END IF;
  -- The runtime role: every attribute that could let it create or own objects is set off explicitly, so a
  -- role made by hand with other settings converges too. Its table rights come from the migrations.
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP_ROLE') THEN
    CREATE ROLE $APP_ROLE LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT
      PASSWORD '$APP_ROLE';
  ELSE
    ALTER ROLE $APP_ROLE LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT
      PASSWORD '$APP_ROLE';
  END IF;
  -- Membership in the owner role would hand it the owner's DDL rights.
  IF pg_has_role('$APP_ROLE', '$ROLE', 'MEMBER') THEN
    REVOKE $ROLE FROM $APP_ROLE;
  END IF;
END
\$\$;
SQL
    local db
    for db in "${DATABASES[@]}"; do
      echo "SELECT 'CREATE DATABASE $db OWNER $ROLE' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$db')\\gexec"
      echo "ALTER DATABASE $db OWNER TO $ROLE;"
      # CONNECT only (PUBLIC has it by default; explicit in case it was revoked). CREATE on the database
      # (new schemas) stays with the owner.
      echo "GRANT CONNECT ON DATABASE $db TO $APP_ROLE;"
      echo "REVOKE CREATE ON DATABASE $db FROM $APP_ROLE;"
    done
  } | psql_admin || die "provisioning role/databases failed"
}

# Raises max_connections (restart needed). Only restarts a cluster this script started.
ensure_max_connections() {
  local ver=$1 current
  current=$(echo 'SHOW max_connections' | psql_admin -tA)
  if [ "$current" -ge "$MIN_CONNECTIONS" ]; then
    return 0
  fi
  echo "ALTER SYSTEM SET max_connections = $MIN_CONNECTIONS" | psql_admin
  if [ -n "$ver" ] && [ -f "$MARKER" ]; then
    say "max_connections $current -> $MIN_CONNECTIONS (restarting cluster $ver/main)"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main restart || die "restart of cluster $ver/main failed"
    wait_ready
  else
    say "WARNING: max_connections is $current; set to $MIN_CONNECTIONS, effective after the server's next restart"
  fi
}

cmd_start() {
  mkdir -p "$STATE"
  local t0=$SECONDS ver=""
  if reachable; then
    if [ -n "${DATABASE_URL:-}" ]; then
      say "DATABASE_URL is set and 127.0.0.1:$PGPORT is reachable; using it"
    else
      say "PostgreSQL already running on 127.0.0.1:$PGPORT; using it"
    fi
    if ! local_superuser_ok; then
      say "no local superuser access (su postgres); skipping role/database provisioning"
      return 0
    fi
    command -v pg_ctlcluster >/dev/null 2>&1 && ver=$(cluster_version)
  else
    [ -n "${DATABASE_URL:-}" ] && say "DATABASE_URL is set but 127.0.0.1:$PGPORT is not reachable; starting a local cluster"
    ensure_cluster
    ver=$(cluster_version)
    if reachable; then
      # A fresh package install may have started the cluster through its init script.
      say "cluster $ver/main came up during installation"
    else
      say "starting cluster $ver/main on 127.0.0.1:$PGPORT"
      pg_ctlcluster --skip-systemctl-redirect "$ver" main start || die "pg_ctlcluster $ver main start failed"
    fi
    echo "$ver" >"$MARKER"
    wait_ready
  fi
  ensure_max_connections "$ver"
  provision
  say "ready on 127.0.0.1:$PGPORT in $((SECONDS - t0))s; e.g. $(cmd_url leads)"
}

cmd_stop() {
  if [ ! -f "$MARKER" ]; then
    say "not started by this script; leaving it alone"
    return 0
  fi
  local ver
  ver=$(cat "$MARKER")
  say "stopping cluster $ver/main"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main stop || die "pg_ctlcluster $ver main stop failed"
  rm -f "$MARKER"
  say "stopped"
}

cmd_status() {
  if ! reachable; then
    say "not reachable on 127.0.0.1:$PGPORT"
    return 3
  fi
  local owner="not started by this script"
  [ -f "$MARKER" ] && owner="started by this script (cluster $(cat "$MARKER")/main)"
  say "running on 127.0.0.1:$PGPORT, $owner"
  if local_superuser_ok; then
    say "max_connections=$(echo 'SHOW max_connections' | psql_admin -tA)"
    say "roles: $(echo "SELECT string_agg(rolname || CASE WHEN rolcreatedb THEN ' (createdb)' ELSE '' END, ', ' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('$ROLE', '$APP_ROLE')" | psql_admin -tA)"
    say "databases owned by $ROLE: $(echo "SELECT string_agg(datname, ' ' ORDER BY datname) FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE r.rolname = '$ROLE'" | psql_admin -tA)"
  fi
}

cmd_url() {
  local name=${1:-} role=${2:-$ROLE}
  [ -n "$name" ] || { echo "usage: $0 url NAME" >&2; exit 2; }
  echo "postgresql+asyncpg://$role:$role@127.0.0.1:$PGPORT/$name"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) shift; cmd_url "${1:-}" ;;
  app-url) shift; cmd_url "${1:-}" "$APP_ROLE" ;;
  *)
    echo "usage: $0 {start|stop|status|url NAME|app-url NAME}" >&2
    exit 2
    ;;
esac
