#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft, combined broker+controller) on loopback, without Docker.
#
#   bash deploy/local/kafka.sh setup     # fetch the broker classpath into .local/kafka/libs (Maven)
#   bash deploy/local/kafka.sh start     # format storage if needed, start in background, wait until ready
#   bash deploy/local/kafka.sh status    # exit 0 if running and answering metadata, 3 otherwise
#   bash deploy/local/kafka.sh stop      # SIGTERM by PID, SIGKILL after KAFKA_STOP_TIMEOUT seconds
#   bash deploy/local/kafka.sh restart   # stop + start on the same log dirs (broker-kill tests)
#   bash deploy/local/kafka.sh kill      # SIGKILL (crash simulation for tests)
#   bash deploy/local/kafka.sh bootstrap # print the bootstrap address
#   bash deploy/local/kafka.sh client-config # print the path of the client properties (secured broker only)
#
# Environment: KAFKA_PORT (19092), KAFKA_CONTROLLER_PORT (19093), KAFKA_VERSION (4.0.2; 3.9.x is the
# fallback, e.g. KAFKA_VERSION=3.9.1), KAFKA_HEAP_OPTS, KAFKA_READY_TIMEOUT (60), KAFKA_STOP_TIMEOUT (30),
# KAFKA_STATE_DIR (<repo>/.local/kafka; a second broker needs its own dir and ports),
# KAFKA_PROBE_PYTHON (<repo>/.venv/bin/python; without aiokafka the probe uses kafka/Ready.java).
# State: libs/, data/, server.properties, kafka.pid, kafka.log (stdout/stderr), server.log (log4j).
#
# Secured broker (docs/KAFKA-SECURITY.md): KAFKA_SECURITY=SASL_SSL (default PLAINTEXT) makes the client
# listener on KAFKA_PORT SASL_SSL with SCRAM-SHA-512 and SCRAM-SHA-256; inter-broker traffic uses it too, the
# controller listener stays PLAINTEXT on loopback. KAFKA_SCRAM_USERS ("admin:admin-secret"; comma-separated
# name:password) are created when the storage is formatted, so they are fixed for the life of a state dir.
# A CA and the broker's certificate (PEM files from kafka/make_certs.py, trustme; no keytool, no JKS) are kept
# in <state>/tls; KAFKA_MTLS_PORT (unset: none) adds an SSL listener that requires a client certificate
# signed by that CA (<state>/tls/client-cert.pem, client-key.pem). <state>/client.properties holds the first
# user's client settings in the form of Kafka's own tools (--command-config): the readiness probe reads it,
# and so can `outreach-ops --command-config`. A state dir keeps the mode it was formatted with.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/deploy/local/kafka"
STATE=${KAFKA_STATE_DIR:-$ROOT/.local/kafka}
LIBS="$STATE/libs"
DATA="$STATE/data"
PROPS="$STATE/server.properties"
PID_FILE="$STATE/kafka.pid"
LOG_FILE="$STATE/kafka.log"
STAMP="$STATE/libs.stamp"

KAFKA_VERSION=${KAFKA_VERSION:-4.0.2}
KAFKA_PORT=${KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-19093}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms512m -Xmx1g}
KAFKA_READY_TIMEOUT=${KAFKA_READY_TIMEOUT:-60}
KAFKA_STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
TLS_DIR="$STATE/tls"
CLIENT_PROPS="$STATE/client.properties"
# What the storage was formatted with: the mode, and the SCRAM users (mode 600, like client.properties).
MODE_FILE="$STATE/security.mode"
USERS_FILE="$STATE/scram.users"
# A formatted state dir remembers its mode and users, so status/stop/restart need no KAFKA_SECURITY.
KAFKA_SECURITY=${KAFKA_SECURITY:-$(cat "$MODE_FILE" 2>/dev/null || echo PLAINTEXT)}
KAFKA_SCRAM_USERS_GIVEN=${KAFKA_SCRAM_USERS:-}
KAFKA_SCRAM_USERS=${KAFKA_SCRAM_USERS:-$(cat "$USERS_FILE" 2>/dev/null || echo admin:admin-secret)}
KAFKA_MTLS_PORT=${KAFKA_MTLS_PORT:-}
BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
PY=${KAFKA_PROBE_PYTHON:-$ROOT/.venv/bin/python}

say() { echo "[kafka] $*"; }
die() {
  echo "[kafka] ERROR: $*" >&2
  if [ -f "$LOG_FILE" ]; then
    echo "[kafka] --- last 40 lines of $LOG_FILE ---" >&2
    tail -n 40 "$LOG_FILE" >&2 || true
  fi
  exit 1
}

major_version() { echo "${KAFKA_VERSION%%.*}"; }

secured() { [ "$KAFKA_SECURITY" = SASL_SSL ]; }

check_security_mode() {
  case "$KAFKA_SECURITY" in
    PLAINTEXT) [ -z "$KAFKA_MTLS_PORT" ] || die "KAFKA_MTLS_PORT needs KAFKA_SECURITY=SASL_SSL" ;;
    SASL_SSL) [ "$(major_version)" -ge 4 ] || die "KAFKA_SECURITY=SASL_SSL is set up for Kafka 4 only (KAFKA_VERSION=$KAFKA_VERSION)" ;;
    *) die "KAFKA_SECURITY must be PLAINTEXT or SASL_SSL, not '$KAFKA_SECURITY'" ;;
  esac
  if [ -f "$DATA/meta.properties" ]; then
    local formatted=PLAINTEXT
    [ -f "$MODE_FILE" ] && formatted=$(cat "$MODE_FILE")
    [ "$formatted" = "$KAFKA_SECURITY" ] || die "$DATA was formatted for $formatted, not $KAFKA_SECURITY" \
      "(SCRAM users exist only from format time); use another KAFKA_STATE_DIR"
    if secured && [ -n "$KAFKA_SCRAM_USERS_GIVEN" ] && [ -f "$USERS_FILE" ] &&
        [ "$KAFKA_SCRAM_USERS_GIVEN" != "$(cat "$USERS_FILE")" ]; then
      die "KAFKA_SCRAM_USERS differs from the users $DATA was formatted with; use another KAFKA_STATE_DIR"
    fi
  fi
}

# The name:password pairs of KAFKA_SCRAM_USERS, one per line; the first is the user of client.properties.
scram_users() {
  local pair pairs
  IFS=, read -ra pairs <<<"$KAFKA_SCRAM_USERS"
  [ "${#pairs[@]}" -gt 0 ] || die "KAFKA_SCRAM_USERS is empty"
  for pair in "${pairs[@]}"; do
    [[ "$pair" == ?*:?* ]] || die "KAFKA_SCRAM_USERS entries are name:password, got '$pair'"
    # Kept out: characters the --add-scram syntax or the JAAS line would have to quote.
    [[ "$pair" =~ [][[:space:]\"\\=\;] ]] &&
      die "KAFKA_SCRAM_USERS: no spaces, quotes, brackets, '=', ';' or backslashes in names and passwords"
    echo "$pair"
  done
}

first_user() { scram_users | head -n 1; }

make_certs() {
  [ -x "$PY" ] || die "$PY not found: the certificates are made with Python's trustme (run: make setup)"
  "$PY" "$HERE/make_certs.py" "$TLS_DIR" || die "could not write the certificates into $TLS_DIR"
}

# The first SCRAM user's client settings, in the properties format of Kafka's own tools (--command-config).
write_client_properties() {
  local user
  user=$(first_user)
  cat >"$CLIENT_PROPS" <<EOF
# Written by deploy/local/kafka.sh: the client settings of SCRAM user ${user%%:*} for $BOOTSTRAP.
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${user%%:*}" password="${user#*:}";
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.pem
EOF
  chmod 600 "$CLIENT_PROPS"
}

# The stamp ties the fetched classpath to the pom contents and the requested version.
wanted_stamp() { { cat "$HERE/pom.xml"; echo "kafka.version=$KAFKA_VERSION"; } | sha256sum | cut -d' ' -f1; }

cmd_setup() {
  if [ -d "$LIBS" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(wanted_stamp)" ]; then
    say "classpath for Kafka $KAFKA_VERSION already in $LIBS ($(ls "$LIBS" | wc -l) jars); skipping"
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (Maven is required for setup)"
  command -v java >/dev/null || die "java not found (Java 17 is required)"
  local profile=()
  [ "$(major_version)" -lt 4 ] && profile=(-P kafka3)
  local tmp="$STATE/libs.tmp"
  rm -rf "$tmp"
  mkdir -p "$STATE"
  say "fetching Kafka $KAFKA_VERSION classpath with Maven into $LIBS"
  local t0=$SECONDS
  if ! mvn -q -B -Dstyle.color=never -f "$HERE/pom.xml" package "${profile[@]}" \
      -Dkafka.version="$KAFKA_VERSION" -Dkafka.build.dir="$STATE/build" -Dkafka.libs.dir="$tmp" 2>&1 |
      sed 's/\x1b\[[0-9;]*m//g'; then  # Maven 3.8 emits colour resets even with -q -B
    rm -rf "$tmp"
    die "Maven could not fetch the Kafka $KAFKA_VERSION classpath (see output above)"
  fi
  ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1 || die "kafka_2.13-$KAFKA_VERSION.jar missing from $tmp"
  rm -rf "$LIBS" "$STATE/build"
  mv "$tmp" "$LIBS"
  wanted_stamp >"$STAMP"
  say "classpath ready: $(ls "$LIBS" | wc -l) jars, $(du -sh "$LIBS" | cut -f1) in $((SECONDS - t0))s"
}

pid_alive() {
  [ -f "$PID_FILE" ] || return 1
  local pid
  pid=$(cat "$PID_FILE")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against PID reuse: the process must be our broker.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $PROPS"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

java_opts() {
  local opts=($KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
    -Djava.awt.headless=true -Dkafka.logs.dir="$STATE")
  if [ "$(major_version)" -ge 4 ]; then
    opts+=(-Dlog4j2.configurationFile="$HERE/log4j2.xml")
  else
    opts+=(-Dlog4j.configuration="file:$HERE/log4j.properties")
  fi
  printf '%s\n' "${opts[@]}"
}

# One real metadata round trip; aiokafka when the venv has it, else Kafka's own Admin client. A secured
# broker is probed with client.properties: read by the kit's --command-config reader, or by Java as it is.
metadata_ok() {
  local config=() module=aiokafka
  if secured; then
    config=("$CLIENT_PROPS")
    module=servicekit.messaging.kafka_config
  fi
  if [ -x "$PY" ] && "$PY" -c "import aiokafka, $module" 2>/dev/null; then
    "$PY" -c '
import asyncio, sys
from aiokafka.admin import AIOKafkaAdminClient

async def probe() -> None:
    options = {}
    if len(sys.argv) > 2:
        from servicekit.messaging.kafka_config import client_options, read_command_config
        options = client_options(read_command_config(sys.argv[2]))
    admin = AIOKafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=5000, **options)
    await admin.start()
    try:
        await admin.list_topics()
    finally:
        await admin.close()

asyncio.run(asyncio.wait_for(probe(), 10))
' "$BOOTSTRAP" "${config[@]}" >/dev/null 2>&1
  else
    java -cp "$LIBS/*" -Dlog4j2.configurationFile="$HERE/log4j2.xml" -Dkafka.logs.dir="$STATE" \
      "$HERE/Ready.java" "$BOOTSTRAP" 5000 "${config[@]}" >/dev/null 2>&1
  fi
}

write_properties() {
  local client=PLAINTEXT
  secured && client=SASL_SSL
  local listeners="$client://127.0.0.1:$KAFKA_PORT" map="CONTROLLER:PLAINTEXT,$client:$client"
  if [ -n "$KAFKA_MTLS_PORT" ]; then
    listeners+=",SSL://127.0.0.1:$KAFKA_MTLS_PORT"
    map+=",SSL:SSL"
  fi
  local advertised=$listeners
  # Kafka 4 (KIP-853) wants the controller advertised too; 3.9 rejects it in combined mode.
  [ "$(major_version)" -ge 4 ] && advertised+=",CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT"
  mkdir -p "$DATA"
  cat >"$PROPS" <<EOF
# Written by deploy/local/kafka.sh; regenerated on every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=$listeners,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=$client
listener.security.protocol.map=$map
log.dirs=$DATA

# Single node: every internal topic has replication factor 1 and min ISR 1.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Topics are created explicitly from the topic registry.
auto.create.topics.enable=false
delete.topic.enable=true
num.partitions=1
group.initial.rebalance.delay.ms=0

# A restarted broker cannot re-register until the old incarnation's session expires
# (DUPLICATE_BROKER_REGISTRATION), so restart time ~= 1-2s + this timeout (9s default -> ~12s
# restarts). 3s still tolerates long stalls on a busy machine; heartbeats are in-process on loopback.
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500

# Small machine: few threads.
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
log.cleaner.threads=1
log.retention.hours=168
EOF
  secured || return 0
  local user
  user=$(first_user)
  cat >>"$PROPS" <<EOF

# KAFKA_SECURITY=SASL_SSL: the SCRAM credentials live in the metadata log (created at format time); the
# broker authenticates to its own listener as the first user. Key + certificate chain in one PEM file, the CA
# in another: no keytool, no JKS.
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${user%%:*}" password="${user#*:}";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${user%%:*}" password="${user#*:}";
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.pem
EOF
  if [ -n "$KAFKA_MTLS_PORT" ]; then
    echo "listener.name.ssl.ssl.client.auth=required" >>"$PROPS"
  fi
}

format_storage() {
  if [ -f "$DATA/meta.properties" ]; then
    say "storage already formatted ($DATA)"
    return 0
  fi
  local cp="$LIBS/*" opts cluster_id
  mapfile -t opts < <(java_opts)
  # The console appender shares stdout with the id, so the id is the last line.
  if ! cluster_id=$(java -cp "$cp" "${opts[@]}" kafka.tools.StorageTool random-uuid 2>&1); then
    echo "$cluster_id" >>"$LOG_FILE"
    die "StorageTool random-uuid failed"
  fi
  cluster_id=$(tail -n 1 <<<"$cluster_id")
  [ -n "$cluster_id" ] || die "StorageTool random-uuid produced no cluster id"
  local scram=() pair users=""
  if secured; then
    while IFS= read -r pair; do
      scram+=(--add-scram "SCRAM-SHA-512=[name=${pair%%:*},password=${pair#*:}]"
              --add-scram "SCRAM-SHA-256=[name=${pair%%:*},password=${pair#*:}]")
      users+=" ${pair%%:*}"
    done < <(scram_users)
  fi
  say "formatting storage in $DATA (cluster id $cluster_id)${users:+; SCRAM users:$users}"
  java -cp "$cp" "${opts[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPS" \
    --ignore-formatted "${scram[@]}" >>"$LOG_FILE" 2>&1 || die "StorageTool format failed"
  echo "$KAFKA_SECURITY" >"$MODE_FILE"
  if secured; then
    (umask 077 && echo "$KAFKA_SCRAM_USERS" >"$USERS_FILE")
  fi
}

wait_ready() {
  local pid=$1 deadline=$((SECONDS + KAFKA_READY_TIMEOUT)) next_note=$((SECONDS + 5)) phase=port
  say "waiting for $BOOTSTRAP (timeout ${KAFKA_READY_TIMEOUT}s)"
  while [ $SECONDS -lt $deadline ]; do
    kill -0 "$pid" 2>/dev/null || { rm -f "$PID_FILE"; die "broker process $pid exited during startup"; }
    if [ $phase = port ] && port_open "$KAFKA_PORT"; then
      say "port $KAFKA_PORT open after $((SECONDS - start_t0))s; checking metadata"
      phase=metadata
    fi
    if [ $phase = metadata ] && metadata_ok; then
      return 0
    fi
    if [ $SECONDS -ge $next_note ]; then
      say "... still waiting ($phase, $((SECONDS - start_t0))s)"
      next_note=$((SECONDS + 5))
    fi
    sleep 0.5
  done
  die "broker not ready after ${KAFKA_READY_TIMEOUT}s (pid $pid still alive; stop it with: $0 stop)"
}

cmd_start() {
  start_t0=$SECONDS
  if pid_alive; then
    local pid
    pid=$(cat "$PID_FILE")
    if port_open "$KAFKA_PORT" && metadata_ok; then
      say "already running (pid $pid) on $BOOTSTRAP; reusing it"
      return 0
    fi
    say "process $pid exists but is not ready yet; waiting for it"
    wait_ready "$pid"
    say "ready on $BOOTSTRAP (pid $pid)"
    return 0
  fi
  rm -f "$PID_FILE"
  port_open "$KAFKA_PORT" && die "port $KAFKA_PORT is already in use by a process this script did not start"
  port_open "$KAFKA_CONTROLLER_PORT" && die "port $KAFKA_CONTROLLER_PORT is already in use by a process this script did not start"
  if [ -n "$KAFKA_MTLS_PORT" ] && port_open "$KAFKA_MTLS_PORT"; then
    die "port $KAFKA_MTLS_PORT is already in use by a process this script did not start"
  fi
  check_security_mode
  cmd_setup
  mkdir -p "$STATE"
  if secured; then
    scram_users >/dev/null
    make_certs
    write_client_properties
  fi
  write_properties
  echo "=== kafka.sh start $(date -u +%FT%TZ) ===" >>"$LOG_FILE"
  format_storage
  local opts pid
  mapfile -t opts < <(java_opts)
  say "starting Kafka $KAFKA_VERSION (KRaft, node 1, $KAFKA_SECURITY${KAFKA_MTLS_PORT:+, mTLS on $KAFKA_MTLS_PORT}) on $BOOTSTRAP, controller 127.0.0.1:$KAFKA_CONTROLLER_PORT"
  # setsid: the broker must outlive the shell (and process group) that started it.
  setsid nohup java -cp "$LIBS/*" "${opts[@]}" kafka.Kafka "$PROPS" >>"$LOG_FILE" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PID_FILE"
  wait_ready "$pid"
  say "ready on $BOOTSTRAP (pid $pid) in $((SECONDS - start_t0))s; log $LOG_FILE"
}

wait_gone() {
  local pid=$1 limit=$2 t0=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    [ $((SECONDS - t0)) -ge "$limit" ] && return 1
    sleep 0.2
  done
}

cmd_stop() {
  if ! pid_alive; then
    rm -f "$PID_FILE"
    say "not running"
    return 0
  fi
  local pid
  pid=$(cat "$PID_FILE")
  say "stopping pid $pid (SIGTERM, up to ${KAFKA_STOP_TIMEOUT}s)"
  local t0=$SECONDS
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" "$KAFKA_STOP_TIMEOUT"; then
    say "still alive after ${KAFKA_STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || die "pid $pid survived SIGKILL"
  fi
  rm -f "$PID_FILE"
  say "stopped in $((SECONDS - t0))s"
}

cmd_kill() {
  if ! pid_alive; then
    rm -f "$PID_FILE"
    say "not running"
    return 0
  fi
  local pid
  pid=$(cat "$PID_FILE")
  say "killing pid $pid (SIGKILL)"
  kill -KILL "$pid" 2>/dev/null || true
  wait_gone "$pid" 10 || die "pid $pid survived SIGKILL"
  rm -f "$PID_FILE"
  say "killed"
}

cmd_status() {
  if ! pid_alive; then
    say "not running (bootstrap would be $BOOTSTRAP)"
    return 3
  fi
  local pid
  pid=$(cat "$PID_FILE")
  if port_open "$KAFKA_PORT" && metadata_ok; then
    say "running: pid $pid, bootstrap $BOOTSTRAP, metadata ok, data $DATA"
    return 0
  fi
  say "process $pid alive but $BOOTSTRAP not answering metadata"
  return 3
}

case "${1:-}" in
  setup) cmd_setup ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  kill) cmd_kill ;;
  status) cmd_status ;;
  bootstrap) echo "$BOOTSTRAP" ;;
  client-config)
    secured || die "client-config: a PLAINTEXT broker has no client settings (set KAFKA_SECURITY=SASL_SSL)"
    echo "$CLIENT_PROPS"
    ;;
  *)
    echo "usage: $0 {setup|start|stop|restart|status|kill|bootstrap|client-config}" >&2
    exit 2
    ;;
esac
