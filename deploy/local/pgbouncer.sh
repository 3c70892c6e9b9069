#!/usr/bin/env bash
# A private PgBouncer in front of the local PostgreSQL, for the tests of the services' pooling requirement
# (tests/integration/test_integration_pgbouncer.py; docs/KUBERNETES-RUNBOOK.md "Connection budget").
#
#   bash deploy/local/pgbouncer.sh install                # Debian's pgbouncer package, if missing (root)
#   bash deploy/local/pgbouncer.sh run DIR PORT MODE      # writes DIR/pgbouncer.ini + DIR/userlist.txt and runs
#                                                         # pgbouncer in the foreground on 127.0.0.1:PORT,
#                                                         # pool_mode MODE (session|transaction|statement)
#
# `run` never touches a system-wide PgBouncer: its config, log and pid file live in DIR, it listens on loopback
# only (no unix socket) and stops on SIGTERM/SIGINT. PgBouncer refuses to run as root, so as root it drops to
# the `postgres` user (or `nobody`), which then owns DIR.
# Environment: PGHOST (127.0.0.1), PGPORT (5432): the PostgreSQL it forwards to; PGBOUNCER_USERS ("outreach:outreach
# outreach_app:outreach_app"): the name:password pairs clients may log in with (the local roles of
# deploy/local/postgres.sh); PgBouncer logs in to PostgreSQL with the same name and password.
set -euo pipefail

PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGBOUNCER_USERS=${PGBOUNCER_USERS:-"outreach:outreach outreach_app:outreach_app"}

say() { echo "[pgbouncer] $*" >&2; }
die() { echo "[pgbouncer] ERROR: $*" >&2; exit 1; }

binary() {
  command -v pgbouncer 2>/dev/null || { [ -x /usr/sbin/pgbouncer ] && echo /usr/sbin/pgbouncer; } || true
}

cmd_install() {
  if [ -n "$(binary)" ]; then
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "pgbouncer is not installed and installing needs root"
  command -v apt-get >/dev/null || die "pgbouncer is not installed and apt-get is unavailable"
  say "installing Debian's pgbouncer package"
  # The package's own service stays as the distribution leaves it; `run` starts a private instance.
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgbouncer; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgbouncer
  fi
  [ -n "$(binary)" ] || die "pgbouncer still missing after apt-get install"
}

cmd_run() {
  local dir=${1:-} port=${2:-} mode=${3:-}
  [ -n "$dir" ] && [ -n "$port" ] && [ -n "$mode" ] || { echo "usage: $0 run DIR PORT MODE" >&2; exit 2; }
  case "$mode" in session|transaction|statement) ;; *) die "pool mode must be session, transaction or statement" ;; esac
  local bin
  bin=$(binary)
  [ -n "$bin" ] || die "pgbouncer is not installed: bash $0 install"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local pair
  : >"$dir/userlist.txt"
  for pair in $PGBOUNCER_USERS; do
    printf '"%s" "%s"\n' "${pair%%:*}" "${pair#*:}" >>"$dir/userlist.txt"
  done
  # No ignore_startup_parameters: the services send no search_path startup parameter (servicekit.process.db sets it
  # with SET after connecting; PgBouncer would refuse the parameter, or drop it when told to ignore it).
  # server_reset_query (DISCARD ALL, the default, run in session mode only) clears a client's session state
  # before its server connection serves the next client.
  cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=$PGHOST port=$PGPORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
pool_mode = $mode
server_reset_query = DISCARD ALL
max_client_conn = 500
default_pool_size = 100
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
  local user_args=()
  if [ "$(id -u)" -eq 0 ]; then
    local user=nobody
    id postgres >/dev/null 2>&1 && user=postgres
    chown -R "$user" "$dir"
    user_args=(-u "$user")
  fi
  say "pool_mode=$mode on 127.0.0.1:$port -> $PGHOST:$PGPORT (config $dir/pgbouncer.ini)"
  exec "$bin" "${user_args[@]}" "$dir/pgbouncer.ini"
}

case "${1:-}" in
  install) cmd_install ;;
  run) shift; cmd_run "$@" ;;
  *)
    echo "usage: $0 {install|run DIR PORT MODE}" >&2
    exit 2
    ;;
esac
