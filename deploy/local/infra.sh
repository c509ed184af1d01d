#!/usr/bin/env bash
# Local (Docker-free) infrastructure: a real Apache Kafka 4.x broker (KRaft, single node, combined
# broker+controller; or three such nodes with KAFKA_BROKERS=3) and a real PostgreSQL 15 server, for tests, CI and
# the local run.
# Docker hosts use docker-compose.yml at the repo root instead.
#
# Usage: deploy/local/infra.sh up|down|status|env|pg-restart|kafka-restart
#
#   up      start whatever of Kafka / PostgreSQL is not running (idempotent), wait until both
#           answer, create database `ecticket` if missing, write .run/<INFRA_NAME>/env and print
#           the export lines on stdout (so `eval "$(deploy/local/infra.sh up)"` works).
#   down    stop both (idempotent: succeeds when nothing runs). Data is kept.
#   status  print the state of both; exit 0 when both run, 3 otherwise.
#   env     print `export KAFKA_BOOTSTRAP=...`, `export DATABASE_URL=...` and the processor simulator's
#           `export PROCESSOR_HTTP_PORT=...` / `export PROCESSOR_URL=...` lines.
#   pg-restart fast|immediate
#           restart PostgreSQL with `pg_ctl -m MODE restart` and wait until it accepts connections again
#           (fault tests: fast ends every session, immediate crashes the server and recovers from WAL).
#   kafka-restart [SECONDS_DOWN] [term|kill] [NODE]
#           stop a Kafka node (SIGTERM, or SIGKILL with `kill`), keep it down SECONDS_DOWN (default 5), start it.
#
# Environment:
#   INFRA_NAME             instance name (default dev); state lives in <repo>/.run/<INFRA_NAME>/
#   KAFKA_PORT             broker port (default: dev 19092, test 29092, other names derived from the name)
#   KAFKA_CONTROLLER_PORT  KRaft controller port (default KAFKA_PORT+1)
#   KAFKA_BROKERS          1 (default) or 3: three KRaft nodes (broker+controller each) on KAFKA_PORT, +2, +4
#                          (controllers on the port after each), replication factor 3, min.insync.replicas 2, so
#                          the loss of one broker costs no downtime and no acknowledged write. Applies at `up`.
#   PG_PORT                PostgreSQL port (default: dev 15432, test 25432, other names derived)
#   PROCESSOR_PORT         the payment-processor simulator's HTTP port, written to the env file as
#                          PROCESSOR_HTTP_PORT and PROCESSOR_URL (default: dev 18090, test 28090, other names
#                          derived; the next free one if taken when first recorded)
#   GATEWAY_PORT           the HTTP gateway's port, written to the env file as GATEWAY_PORT and GATEWAY_URL (default:
#                          dev 8080, test 28080, other names derived; the next free one if taken when first recorded)
#   KAFKA_AUTH             scram (the default: SASL/SCRAM-SHA-512 and ACLs, docs/security.md) or none (PLAINTEXT, no
#                          ACLs). Applies at `up`; the env file exports it, with KAFKA_CREDENTIALS_DIR (a password
#                          per principal, generated under .run/<name>/kafka-credentials/, never in the repo).
#   KAFKA_TLS              1: the client listener speaks TLS (SSL with KAFKA_AUTH=none, SASL_SSL with scram), with a
#                          broker certificate (SAN 127.0.0.1, localhost) from a local CA that `up` makes once with
#                          openssl under .run/<name>/kafka-tls/ (docs/security.md); the env file exports KAFKA_TLS and
#                          KAFKA_TLS_CA (the CA certificate clients trust). 0 (default): no TLS. Applies at `up`.
#   PG_FAST=1              fsync/synchronous_commit/full_page_writes off (tests only; never for
#                          benchmarks or crash tests). Applies when PostgreSQL is started.
#   PG_SHARED_BUFFERS      PostgreSQL shared_buffers (default 512MB)
#   PG_EXTRA_OPTS          more server options, e.g. to see where a benchmark's SQL time goes:
#                          "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
#                          (then CREATE EXTENSION pg_stat_statements). Applies when PostgreSQL is started.
#   KAFKA_HEAP_OPTS        JVM heap flags (default "-Xms256m -Xmx512m")
#   KAFKA_GC_OPTS          JVM garbage collector flags (default "-XX:+UseG1GC -XX:MaxGCPauseMillis=20")
#   KAFKA_FLUSH_MS         the broker writes every partition's new records to disk at least this often (default
#                          1000; 0: never by itself, Kafka's default, left to the kernel). Applies at `up`.
#   KAFKA_READY_TIMEOUT    seconds to wait for the broker (default 90)
#   KAFKA_HANDSHAKE_TIMEOUT seconds a started broker has to accept the admin's SCRAM handshake before `up` or
#                          `kafka-restart` gives up on it (default 30)
#   JAVA                   java binary (default: java on PATH)
#   PG_BIN                 PostgreSQL bin dir (default /usr/lib/postgresql/15/bin)
#
# While an instance runs, status/env/down use the ports recorded by its `up` (.run/<name>/instance),
# so they need no port variables; an explicit, different port variable is then an error.
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/../.." && pwd -P)"

INFRA_NAME="${INFRA_NAME:-dev}"
if [[ ! "$INFRA_NAME" =~ ^[A-Za-z0-9_.-]+$ ]]; then
  echo "infra: INFRA_NAME must match [A-Za-z0-9_.-]+ (got '$INFRA_NAME')" >&2
  exit 2
fi

RUN_DIR="$REPO_ROOT/.run/$INFRA_NAME"
LOG_DIR="$RUN_DIR/logs"
INSTANCE_FILE="$RUN_DIR/instance"
ENV_FILE="$RUN_DIR/env"
LOCK_FILE="$RUN_DIR/infra.lock"

# Node 1's files keep the single-broker names; nodes 2 and 3 (KAFKA_BROKERS=3) have their own (use_node).
KAFKA_CLUSTER_ID_FILE="$RUN_DIR/kafka/cluster-id"
use_node() {  # use_node N: the Kafka node the kafka_* functions act on
  NODE=$1
  local suffix=""
  ((NODE == 1)) || suffix="-$NODE"
  KAFKA_DIR="$RUN_DIR/kafka$suffix"
  KAFKA_DATA_DIR="$KAFKA_DIR/data"
  KAFKA_PROPS="$KAFKA_DIR/server.properties"
  KAFKA_PID_FILE="$RUN_DIR/kafka$suffix.pid"
  KAFKA_LOG="$LOG_DIR/kafka$suffix.log"
  if ((NODE == 1)); then
    NODE_PORT=${KAFKA_PORT:-}; NODE_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-}
  else
    NODE_PORT=$((KAFKA_PORT + 2 * (NODE - 1))); NODE_CONTROLLER_PORT=$((NODE_PORT + 1))
  fi
}
use_node 1
KAFKA_POM="$SCRIPT_DIR/kafka/pom.xml"
KAFKA_LOG4J="$SCRIPT_DIR/kafka/log4j2.properties"
JAR_CACHE="$REPO_ROOT/.cache/kafka-jars"
JAVA="${JAVA:-java}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
KAFKA_GC_OPTS="${KAFKA_GC_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20}"
KAFKA_READY_TIMEOUT="${KAFKA_READY_TIMEOUT:-90}"
KAFKA_FLUSH_MS="${KAFKA_FLUSH_MS:-1000}"
KAFKA_HANDSHAKE_TIMEOUT="${KAFKA_HANDSHAKE_TIMEOUT:-30}"

# The broker's principals (shared/access.py PRINCIPALS; tests/unit/test_access.py keeps the two equal). Each gets a
# SCRAM credential when the storage is formatted; `admin` is the super user (set-up, inter-broker traffic).
KAFKA_PRINCIPALS=(admin payment_confirmation issuance redemption escrow_settlement query gateway notification
  payment_processor escrow_bank ops auditor)
CREDENTIALS_DIR="$RUN_DIR/kafka-credentials"
TLS_DIR="$RUN_DIR/kafka-tls"

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_USER_OS=postgres
PG_DB=ecticket

log() { printf 'infra[%s]: %s\n' "$INFRA_NAME" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- ports / recorded instance

default_ports() {  # sets DEF_KAFKA_PORT DEF_PG_PORT DEF_PROCESSOR_PORT DEF_GATEWAY_PORT
  case "$INFRA_NAME" in
    dev)  DEF_KAFKA_PORT=19092; DEF_PG_PORT=15432; DEF_PROCESSOR_PORT=18090; DEF_GATEWAY_PORT=8080
          DEF_METRICS_PORT_BASE=9400; DEF_OPS_WEB_PORT=6066 ;;
    test) DEF_KAFKA_PORT=29092; DEF_PG_PORT=25432; DEF_PROCESSOR_PORT=28090; DEF_GATEWAY_PORT=28080
          DEF_METRICS_PORT_BASE=29400; DEF_OPS_WEB_PORT=26066 ;;
    *)
      # Deterministic per name, 10-port slots in 10000-14990 (Kafka) / 20000-24990 (PG); the processor simulator
      # takes a port of the PG slot that PostgreSQL does not use. Every server port stays below Linux's ephemeral
      # range (32768-60999): a port in it can be taken, while its server restarts, by some client's outgoing
      # connection, even by a client retrying that very port (TCP self-connect). It happened: in a chaos run the
      # restarted broker could not bind its port ("Address already in use") and the platform stopped.
      local h
      h=$(printf '%s' "$INFRA_NAME" | cksum | cut -d' ' -f1)
      DEF_KAFKA_PORT=$((10000 + (h % 500) * 10))
      DEF_PG_PORT=$((20000 + (h % 500) * 10))
      DEF_PROCESSOR_PORT=$((DEF_PG_PORT + 5))
      DEF_GATEWAY_PORT=$((DEF_PG_PORT + 6))
      DEF_OPS_WEB_PORT=$((DEF_PG_PORT + 7))
      # Each service process serves /metrics on base + its offset (shared/infra/metrics.py PORT_OFFSETS, < 16).
      DEF_METRICS_PORT_BASE=$((30000 + (h % 170) * 16))
      ;;
  esac
}

rec_get() {  # rec_get KEY -> value recorded by the last `up`, or empty
  [[ -f "$INSTANCE_FILE" ]] || return 0
  sed -n "s/^$1=//p" "$INSTANCE_FILE" | tail -n1
}

resolve_config() {
  default_ports
  local rk rc rp rb rh
  rk=$(rec_get KAFKA_PORT); rc=$(rec_get KAFKA_CONTROLLER_PORT); rp=$(rec_get PG_PORT); rb=$(rec_get PG_BASE)
  rh=$(rec_get PROCESSOR_HTTP_PORT)
  local rg
  rg=$(rec_get GATEWAY_PORT)

  local rn
  rn=$(rec_get KAFKA_BROKERS)
  if kafka_running && [[ -n "$rn" ]]; then
    [[ -z "${KAFKA_BROKERS:-}" || "$KAFKA_BROKERS" == "$rn" ]] ||
      die "instance '$INFRA_NAME' runs $rn Kafka broker(s) but KAFKA_BROKERS=$KAFKA_BROKERS; run 'down' first"
    KAFKA_BROKERS=$rn
  else
    KAFKA_BROKERS="${KAFKA_BROKERS:-${rn:-1}}"
  fi
  [[ "$KAFKA_BROKERS" == 1 || "$KAFKA_BROKERS" == 3 ]] || die "KAFKA_BROKERS must be 1 or 3"
  local ra
  ra=$(rec_get KAFKA_AUTH)
  if kafka_running && [[ -n "$ra" ]]; then
    [[ -z "${KAFKA_AUTH:-}" || "$KAFKA_AUTH" == "$ra" ]] ||
      die "instance '$INFRA_NAME' runs Kafka with KAFKA_AUTH=$ra but KAFKA_AUTH=$KAFKA_AUTH; run 'down' first"
    KAFKA_AUTH=$ra
  else
    KAFKA_AUTH="${KAFKA_AUTH:-scram}"
  fi
  [[ "$KAFKA_AUTH" == scram || "$KAFKA_AUTH" == none ]] || die "KAFKA_AUTH must be scram or none"
  local rt
  rt=$(rec_get KAFKA_TLS)
  if kafka_running && [[ -n "$rt" ]]; then
    [[ -z "${KAFKA_TLS:-}" || "$KAFKA_TLS" == "$rt" ]] ||
      die "instance '$INFRA_NAME' runs Kafka with KAFKA_TLS=$rt but KAFKA_TLS=$KAFKA_TLS; run 'down' first"
    KAFKA_TLS=$rt
  else
    KAFKA_TLS="${KAFKA_TLS:-0}"
  fi
  [[ "$KAFKA_TLS" == 0 || "$KAFKA_TLS" == 1 ]] || die "KAFKA_TLS must be 0 or 1"
  if kafka_running && [[ -n "$rk" ]]; then
    [[ -z "${KAFKA_PORT:-}" || "$KAFKA_PORT" == "$rk" ]] ||
      die "instance '$INFRA_NAME' runs Kafka on $rk but KAFKA_PORT=$KAFKA_PORT; run 'down' first"
    [[ -z "${KAFKA_CONTROLLER_PORT:-}" || "$KAFKA_CONTROLLER_PORT" == "$rc" ]] ||
      die "instance '$INFRA_NAME' runs the Kafka controller on $rc but KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT"
    KAFKA_PORT=$rk; KAFKA_CONTROLLER_PORT=$rc
  else
    KAFKA_PORT="${KAFKA_PORT:-$DEF_KAFKA_PORT}"
    KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
  fi

  PG_BASE="${rb:-}"
  [[ -n "$PG_BASE" ]] || PG_BASE=$(choose_pg_base)
  PG_DATA="$PG_BASE/data"
  PG_SOCK_DIR=$(choose_sock_dir)
  # The server (as `postgres`) appends to its log: keep it where that user can reach it.
  if [[ "$PG_BASE" == "$RUN_DIR/"* ]]; then
    PG_LOG="$LOG_DIR/postgres.log"
  else
    PG_LOG="$PG_BASE/postgres.log"
  fi

  if pg_running && [[ -n "$rp" ]]; then
    [[ -z "${PG_PORT:-}" || "$PG_PORT" == "$rp" ]] ||
      die "instance '$INFRA_NAME' runs PostgreSQL on $rp but PG_PORT=$PG_PORT; run 'down' first"
    PG_PORT=$rp
  else
    PG_PORT="${PG_PORT:-$DEF_PG_PORT}"
  fi

  # The processor's port as recorded (its process may be listening there now), else as asked, else the default;
  # `up` moves an unrecorded one that is taken to the next free port (choose_processor_port).
  PROCESSOR_PORT_RECORDED="$rh"
  # (An input of its own name: PROCESSOR_HTTP_PORT is what the env file exports, and a shell that sourced another
  # instance's env file must not carry that instance's port into this one.)
  PROCESSOR_HTTP_PORT="${rh:-${PROCESSOR_PORT:-$DEF_PROCESSOR_PORT}}"
  # The gateway's the same way (choose_gateway_port).
  GATEWAY_PORT_RECORDED="$rg"
  GATEWAY_PORT="${rg:-${GATEWAY_PORT:-$DEF_GATEWAY_PORT}}"

  local p
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$PG_PORT" "$PROCESSOR_HTTP_PORT" "$GATEWAY_PORT"; do
    if [[ ! "$p" =~ ^[0-9]+$ ]] || ((p < 1 || p > 65535)); then die "invalid port '$p'"; fi
  done
  [[ "$KAFKA_PORT" != "$KAFKA_CONTROLLER_PORT" && "$KAFKA_PORT" != "$PG_PORT" &&
     "$KAFKA_CONTROLLER_PORT" != "$PG_PORT" ]] || die "KAFKA_PORT, KAFKA_CONTROLLER_PORT and PG_PORT must differ"

  KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
  local n
  for ((n = 2; n <= KAFKA_BROKERS; n++)); do KAFKA_BOOTSTRAP+=",127.0.0.1:$((KAFKA_PORT + 2 * (n - 1)))"; done
  KAFKA_REPLICATION=$((KAFKA_BROKERS >= 3 ? 3 : 1))
  use_node 1
  DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/$PG_DB"
  PROCESSOR_URL="http://127.0.0.1:$PROCESSOR_HTTP_PORT"
  GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT"
}

# The processor simulator runs only once the services start, so its port is checked here, at `up`: one taken by
# something else (another instance's simulator, any server) moves it to the next free port, recorded from then on.
choose_processor_port() {
  [[ -z "$PROCESSOR_PORT_RECORDED" ]] || return 0
  local tries=0
  while port_in_use "$PROCESSOR_HTTP_PORT" || [[ "$PROCESSOR_HTTP_PORT" == "$KAFKA_PORT" ||
        "$PROCESSOR_HTTP_PORT" == "$KAFKA_CONTROLLER_PORT" || "$PROCESSOR_HTTP_PORT" == "$PG_PORT" ]]; do
    ((++tries <= 100)) || die "no free port for the processor simulator near $PROCESSOR_HTTP_PORT (set PROCESSOR_PORT)"
    PROCESSOR_HTTP_PORT=$((PROCESSOR_HTTP_PORT + 1))
  done
  PROCESSOR_PORT_RECORDED="$PROCESSOR_HTTP_PORT"
  PROCESSOR_URL="http://127.0.0.1:$PROCESSOR_HTTP_PORT"
}

choose_gateway_port() {
  [[ -z "$GATEWAY_PORT_RECORDED" ]] || return 0
  local tries=0
  while port_in_use "$GATEWAY_PORT" || [[ "$GATEWAY_PORT" == "$KAFKA_PORT" || "$GATEWAY_PORT" == "$KAFKA_CONTROLLER_PORT" ||
        "$GATEWAY_PORT" == "$PG_PORT" || "$GATEWAY_PORT" == "$PROCESSOR_HTTP_PORT" ]]; do
    ((++tries <= 100)) || die "no free port for the gateway near $GATEWAY_PORT (set GATEWAY_PORT)"
    GATEWAY_PORT=$((GATEWAY_PORT + 1))
  done
  GATEWAY_PORT_RECORDED="$GATEWAY_PORT"
  GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT"
}

# PostgreSQL runs as the `postgres` OS user, which must be able to reach its data dir. Under the
# repo (.run/<name>/postgres) when every path component is traversable by it, else (e.g. a clone
# under a 0700 home) in a per-instance folder under /var/tmp. The choice is recorded at `up`.
choose_pg_base() {
  local probe="$RUN_DIR"
  [[ -d "$probe" ]] || probe="$REPO_ROOT"
  if runuser -u "$PG_USER_OS" -- test -x "$probe" 2>/dev/null; then
    printf '%s\n' "$RUN_DIR/postgres"
  else
    local h
    h=$(printf '%s' "$RUN_DIR" | cksum | cut -d' ' -f1)
    printf '%s\n' "/var/tmp/ecticket-infra-$h-$INFRA_NAME/postgres"
  fi
}

# Unix socket paths are limited to 107 bytes; fall back to /tmp for deep checkouts.
choose_sock_dir() {
  local d="$PG_BASE/sock"
  if (( ${#d} > 80 )); then
    local h
    h=$(printf '%s' "$PG_BASE" | cksum | cut -d' ' -f1)
    d="/tmp/ecticket-pgsock-$h"
  fi
  printf '%s\n' "$d"
}

write_instance_file() {
  local tmp="$INSTANCE_FILE.tmp.$$"
  {
    echo "KAFKA_PORT=$KAFKA_PORT"
    echo "KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT"
    echo "KAFKA_BROKERS=$KAFKA_BROKERS"
    echo "KAFKA_AUTH=$KAFKA_AUTH"
    echo "KAFKA_TLS=$KAFKA_TLS"
    echo "PG_PORT=$PG_PORT"
    echo "PG_BASE=$PG_BASE"
    echo "PG_FAST=${PG_FAST_EFFECTIVE:-$(rec_get PG_FAST)}"
    [[ -z "${PROCESSOR_PORT_RECORDED:-}" ]] || echo "PROCESSOR_HTTP_PORT=$PROCESSOR_PORT_RECORDED"
    [[ -z "${GATEWAY_PORT_RECORDED:-}" ]] || echo "GATEWAY_PORT=$GATEWAY_PORT_RECORDED"
  } >"$tmp"
  mv -f "$tmp" "$INSTANCE_FILE"
}

env_lines() {
  printf 'export KAFKA_BOOTSTRAP=%s\n' "$KAFKA_BOOTSTRAP"
  printf 'export KAFKA_REPLICATION_FACTOR=%s\n' "$KAFKA_REPLICATION"
  # Which principal a process is comes from the process (shared/infra/kafka_auth.py); the passwords from here.
  printf 'export KAFKA_AUTH=%s\n' "$KAFKA_AUTH"
  printf 'export KAFKA_CREDENTIALS_DIR=%s\n' "$CREDENTIALS_DIR"
  # TLS: whether the client listener speaks it, and the CA certificate every client verifies the broker with.
  printf 'export KAFKA_TLS=%s\n' "$KAFKA_TLS"
  # (Empty without TLS, so a shell that sourced a TLS instance's env file does not carry its CA into this one.)
  printf 'export KAFKA_TLS_CA=%s\n' "$([[ "$KAFKA_TLS" == 1 ]] && printf '%s' "$TLS_DIR/ca.crt")"
  printf 'export DATABASE_URL=%s\n' "$DATABASE_URL"
  printf 'export PROCESSOR_HTTP_PORT=%s\n' "$PROCESSOR_HTTP_PORT"
  printf 'export PROCESSOR_URL=%s\n' "$PROCESSOR_URL"
  printf 'export GATEWAY_PORT=%s\n' "$GATEWAY_PORT"
  printf 'export GATEWAY_URL=%s\n' "$GATEWAY_URL"
  default_ports  # the ops dashboard's port and the services' metrics ports, per instance (issue 14)
  printf 'export OPS_WEB_PORT=%s\n' "${OPS_WEB_PORT:-$DEF_OPS_WEB_PORT}"
  printf 'export METRICS_PORT_BASE=%s\n' "${METRICS_PORT_BASE:-$DEF_METRICS_PORT_BASE}"
  # A development key per instance for the event chain's signed checkpoints (docs/audit.md), kept across ups.
  if [[ ! -s "$RUN_DIR/audit-signing-key" ]]; then
    od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$RUN_DIR/audit-signing-key"
  fi
  printf 'export ECTICKET_AUDIT_SIGNING_KEY=%s\n' "$(cat "$RUN_DIR/audit-signing-key")"
  printf 'export ECTICKET_AUDIT_KEY_ID=%s-dev\n' "$INFRA_NAME"
}

port_in_use() {  # port_in_use PORT -> 0 when something accepts TCP on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ---------------------------------------------------------------- Kafka

kafka_pid() {  # prints the PID if our broker runs (PID file + cmdline check), else fails
  [[ -f "$KAFKA_PID_FILE" ]] || return 1
  local pid
  pid=$(tr -dc '0-9' <"$KAFKA_PID_FILE")
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled PID: the process must be a broker started with our properties file.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $KAFKA_PROPS" || return 1
  printf '%s\n' "$pid"
}
kafka_running() { kafka_pid >/dev/null; }

ensure_kafka_jars() {
  local stamp_want stamp_have
  stamp_want=$(sha256sum <"$KAFKA_POM" | cut -d' ' -f1)
  stamp_have=$(cat "$JAR_CACHE/.pom.sha256" 2>/dev/null || true)
  if [[ "$stamp_want" == "$stamp_have" ]] && compgen -G "$JAR_CACHE/kafka_2.13-*.jar" >/dev/null; then
    return 0
  fi
  mkdir -p "$REPO_ROOT/.cache"
  # Serialise parallel instances materialising the same cache.
  exec 8>"$REPO_ROOT/.cache/kafka-jars.lock"
  flock 8
  stamp_have=$(cat "$JAR_CACHE/.pom.sha256" 2>/dev/null || true)
  if [[ "$stamp_want" != "$stamp_have" ]] || ! compgen -G "$JAR_CACHE/kafka_2.13-*.jar" >/dev/null; then
    command -v mvn >/dev/null || die "mvn not found (needed once to fetch the Kafka jars)"
    log "fetching Kafka jars with Maven into $JAR_CACHE"
    local tmp="$JAR_CACHE.tmp.$$"
    rm -rf "$tmp"
    local mvn_log="$REPO_ROOT/.cache/kafka-jars.mvn.log"
    if ! mvn -B -q -Dstyle.color=never -f "$KAFKA_POM" \
        org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" >"$mvn_log" 2>&1; then
      tail -n 40 "$mvn_log" >&2
      rm -rf "$tmp"
      die "maven could not materialise the Kafka classpath (log: $mvn_log)"
    fi
    compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || { rm -rf "$tmp"; die "no kafka_2.13 jar after copy-dependencies"; }
    printf '%s\n' "$stamp_want" >"$tmp/.pom.sha256"
    rm -rf "$JAR_CACHE"
    mv "$tmp" "$JAR_CACHE"
  fi
  flock -u 8
  exec 8>&-
}

write_kafka_props() {
  mkdir -p "$KAFKA_DIR" "$KAFKA_DATA_DIR"
  # It holds the admin principal's password (inter-broker SCRAM): readable by this user only.
  (umask 077 && : >"$KAFKA_PROPS")
  cat >"$KAFKA_PROPS" <<EOF
# Generated by deploy/local/infra.sh for instance '$INFRA_NAME'; rewritten on every start.
process.roles=broker,controller
node.id=$NODE
controller.quorum.voters=$(quorum_voters)
controller.listener.names=CONTROLLER
$(listener_props)
log.dirs=$KAFKA_DATA_DIR

# Single node: replication factor 1 everywhere, or internal topics never become available
# (transactional producers hang forever with the default transaction.state.log settings).
# Three nodes: every partition on all three, a write acknowledged once two have it (acks=all).
default.replication.factor=$KAFKA_REPLICATION
min.insync.replicas=$(min_isr)
offsets.topic.replication.factor=$KAFKA_REPLICATION
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=$KAFKA_REPLICATION
transaction.state.log.min.isr=$(min_isr)
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=$KAFKA_REPLICATION
share.coordinator.state.topic.min.isr=$(min_isr)
share.coordinator.state.topic.num.partitions=1
# A node that stops heartbeating (killed) is fenced after 3 s instead of 9, and the controller moves its partitions'
# leadership to the other replicas: the stall producers see after a broker dies (measured 12 s with the defaults).
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=1000

# Topics are created explicitly by the topic catalog (partitions and per-topic retention);
# broker-wide retention is left at Kafka's default.
auto.create.topics.enable=false
num.partitions=3
group.initial.rebalance.delay.ms=0
# Produce quotas (shared/infra/quotas.py) are measured over quota.window.num one-second samples, and a new client's
# rate over at least all but one of them: with Kafka's 11 a flooder gets about 10 s of its quota in at full speed
# before the first throttle (10,000 hostile messages at 1 MiB/s, queued ahead of everyone). With 2, about 1 s.
quota.window.num=2
# aiokafka transactional offset commits vs. newer brokers (aiokafka #1004).
transaction.partition.verification.enable=false
$(flush_props)
EOF
}

# Kafka leaves its logs' pages to the kernel, which writes them back in bursts of tens of MB every few seconds. Here
# PostgreSQL shares the disk, and a commit's WAL flush queued behind such a burst: a probe committing every 10 ms saw
# 13-32 commits over 50 ms in 100 s (the longest 0.4-1.4 s), none with the broker flushing each second itself
# (docs/benchmarks.md, "Commit stalls behind the broker's page writeback"). Durability only gains: a single broker's
# acknowledged records are on its disk within KAFKA_FLUSH_MS.
flush_props() {
  if [ "$KAFKA_FLUSH_MS" != 0 ]; then
    printf 'log.flush.interval.ms=%s\nlog.flush.scheduler.interval.ms=%s\n' "$KAFKA_FLUSH_MS" "$KAFKA_FLUSH_MS"
  fi
}

client_protocol() {  # the client (and inter-broker) listener's security protocol, which is also its name
  case "$KAFKA_AUTH/$KAFKA_TLS" in
    none/0) printf PLAINTEXT ;;
    none/1) printf SSL ;;
    scram/0) printf SASL_PLAINTEXT ;;
    scram/1) printf SASL_SSL ;;
  esac
}

listener_props() {  # the client listener: PLAINTEXT, or SASL/SCRAM-SHA-512 with the StandardAuthorizer's ACLs; TLS on top
  local proto
  proto=$(client_protocol)
  if [[ "$KAFKA_TLS" == 1 ]]; then
    # One certificate for every node (its SAN is 127.0.0.1, where they all listen). Brokers verify each other's with
    # the same CA and hostname check (ssl.endpoint.identification.algorithm defaults to https); clients present none.
    cat <<EOF
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.crt
ssl.client.auth=none
ssl.enabled.protocols=TLSv1.3,TLSv1.2
EOF
  fi
  if [[ "$KAFKA_AUTH" == none ]]; then
    cat <<EOF
listeners=$proto://127.0.0.1:$NODE_PORT,CONTROLLER://127.0.0.1:$NODE_CONTROLLER_PORT
advertised.listeners=$proto://127.0.0.1:$NODE_PORT
inter.broker.listener.name=$proto
listener.security.protocol.map=$proto:$proto,CONTROLLER:PLAINTEXT
EOF
    return
  fi
  # Brokers talk to each other as admin over SCRAM. The controller listener stays PLAINTEXT on loopback (SCRAM
  # credentials live in the metadata log the controllers serve, so they cannot authenticate with them); its
  # unauthenticated peers are User:ANONYMOUS, which must be a super user for brokers to register. Anything that
  # reaches the controller port is therefore trusted: docs/security.md says what a deployment does instead.
  cat <<EOF
listeners=$proto://127.0.0.1:$NODE_PORT,CONTROLLER://127.0.0.1:$NODE_CONTROLLER_PORT
advertised.listeners=$proto://127.0.0.1:$NODE_PORT
inter.broker.listener.name=$proto
listener.security.protocol.map=$proto:$proto,CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.${proto,,}.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(credential admin)";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:ANONYMOUS
allow.everyone.if.no.acl.found=false
EOF
}

credential() { cat "$CREDENTIALS_DIR/$1"; }

# KAFKA_TLS=1: a local CA and a broker certificate signed by it, made once per instance and kept across restarts (a
# client that trusted the CA before still does). Keys readable by this user only. Made again when missing, when the
# broker certificate expires within a day, or when it no longer verifies against the CA.
ensure_tls() {
  [[ "$KAFKA_TLS" == 1 ]] || return 0
  command -v openssl >/dev/null || die "openssl not found (KAFKA_TLS=1 makes the instance's CA with it)"
  mkdir -p "$TLS_DIR"
  chmod 0700 "$TLS_DIR"
  local ca_key="$TLS_DIR/ca.key" ca_crt="$TLS_DIR/ca.crt" key="$TLS_DIR/broker.key" crt="$TLS_DIR/broker.crt"
  if [[ ! -s "$ca_key" || ! -s "$ca_crt" ]] || ! openssl x509 -in "$ca_crt" -noout -checkend 86400 >/dev/null; then
    log "making a local CA for Kafka TLS in $TLS_DIR"
    (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$ca_key" 2>/dev/null) ||
      die "openssl could not make the CA key"
    openssl req -x509 -new -key "$ca_key" -sha256 -days 3650 -subj "/CN=ECTicket dev CA ($INFRA_NAME)" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -addext "subjectKeyIdentifier=hash" -out "$ca_crt" 2>/dev/null || die "openssl could not make the CA certificate"
    rm -f "$crt"  # signed by the previous CA: made again below
  fi
  if [[ -s "$key" && -s "$crt" && -s "$TLS_DIR/broker.pem" ]] &&
      openssl x509 -in "$crt" -noout -checkend 86400 >/dev/null &&
      openssl verify -CAfile "$ca_crt" "$crt" >/dev/null 2>&1; then
    return 0
  fi
  log "making the Kafka broker certificate (SAN 127.0.0.1, localhost)"
  # PKCS#8, unencrypted: Kafka's PEM key store reads it without a key password (the file is 0600, like the
  # properties file that would otherwise hold that password).
  (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key" 2>/dev/null) ||
    die "openssl could not make the broker key"
  local ext="$TLS_DIR/broker.ext"
  cat >"$ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always
EOF
  openssl req -new -key "$key" -subj "/CN=localhost" 2>/dev/null |
    openssl x509 -req -CA "$ca_crt" -CAkey "$ca_key" -CAcreateserial -days 825 -sha256 -extfile "$ext" \
      -out "$crt" 2>/dev/null || die "openssl could not sign the broker certificate"
  # The broker's PEM key store: its key, then its chain (its certificate, then the CA's).
  (umask 077 && cat "$key" "$crt" "$ca_crt" >"$TLS_DIR/broker.pem")
}

ensure_credentials() {  # a random password per principal, made once per instance, readable by this user only
  mkdir -p "$CREDENTIALS_DIR"
  chmod 0700 "$CREDENTIALS_DIR"
  local p
  for p in "${KAFKA_PRINCIPALS[@]}"; do
    [[ -s "$CREDENTIALS_DIR/$p" ]] && continue
    (umask 077 && od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$CREDENTIALS_DIR/$p")
  done
}

# The SCRAM credentials go into the metadata log when the storage is formatted. A storage formatted before (without
# them, or without a principal added since) is formatted again: its topics are recreated by `python -m shared.setup`.
scram_marker() { printf '%s\n' "${KAFKA_PRINCIPALS[@]}"; }
kafka_reformat_if_stale() {
  [[ "$KAFKA_AUTH" == scram && -f "$KAFKA_DATA_DIR/meta.properties" ]] || return 0
  [[ "$(cat "$KAFKA_DIR/scram-principals" 2>/dev/null)" == "$(scram_marker)" ]] && return 0
  log "kafka node $NODE: storage formatted without the current SCRAM credentials; formatting it again (data lost)"
  rm -rf "$KAFKA_DATA_DIR"
  mkdir -p "$KAFKA_DATA_DIR"
}

quorum_voters() {  # every node is a controller too: 1@host:port,2@host:port,...
  local n voters=""
  for ((n = 1; n <= KAFKA_BROKERS; n++)); do
    local port=$((n == 1 ? KAFKA_CONTROLLER_PORT : KAFKA_PORT + 2 * (n - 1) + 1))
    voters+="${voters:+,}$n@127.0.0.1:$port"
  done
  printf '%s' "$voters"
}
min_isr() { printf '%s' $((KAFKA_REPLICATION > 1 ? 2 : 1)); }

kafka_format_if_needed() {
  [[ -f "$KAFKA_DATA_DIR/meta.properties" ]] && return 0
  local cid_file="$KAFKA_CLUSTER_ID_FILE" cid
  mkdir -p "$(dirname "$cid_file")"
  if [[ ! -s "$cid_file" ]]; then
    cid=$("$JAVA" -Xmx128m -Dlog4j2.configurationFile="$KAFKA_LOG4J" -cp "$JAR_CACHE/*" kafka.tools.StorageTool random-uuid 2>>"$KAFKA_LOG" | tail -n1)
    [[ -n "$cid" ]] || die "StorageTool random-uuid failed (see $KAFKA_LOG)"
    printf '%s\n' "$cid" >"$cid_file"
  fi
  cid=$(cat "$cid_file")
  log "formatting Kafka storage (cluster id $cid, KAFKA_AUTH=$KAFKA_AUTH)"
  local scram=() p
  if [[ "$KAFKA_AUTH" == scram ]]; then
    for p in "${KAFKA_PRINCIPALS[@]}"; do scram+=(--add-scram "SCRAM-SHA-512=[name=$p,password=$(credential "$p")]"); done
  fi
  # (The passwords are on this command line for the second it runs: a local, single-user machine's trade-off.)
  "$JAVA" -Xmx128m -Dlog4j2.configurationFile="$KAFKA_LOG4J" -cp "$JAR_CACHE/*" \
    kafka.tools.StorageTool format -t "$cid" -c "$KAFKA_PROPS" --ignore-formatted "${scram[@]}" >>"$KAFKA_LOG" 2>&1 ||
    { tail -n 30 "$KAFKA_LOG" >&2; die "kafka storage format failed"; }
  if [[ "$KAFKA_AUTH" == scram ]]; then scram_marker >"$KAFKA_DIR/scram-principals"; else rm -f "$KAFKA_DIR/scram-principals"; fi
}

kafka_up() {  # every node launched first (a KRaft quorum forms only once a majority runs), then each awaited
  local n
  declare -gA KAFKA_LAUNCHERS=()
  for ((n = 1; n <= KAFKA_BROKERS; n++)); do use_node "$n"; kafka_launch_node; done
  for ((n = 1; n <= KAFKA_BROKERS; n++)); do use_node "$n"; kafka_await_node; done
  use_node 1
}

kafka_launch_node() {
  if kafka_running; then
    log "kafka node $NODE already running (pid $(kafka_pid), 127.0.0.1:$NODE_PORT)"
    return 0
  fi
  rm -f "$KAFKA_PID_FILE"
  local p
  for p in "$NODE_PORT" "$NODE_CONTROLLER_PORT"; do
    port_in_use "$p" && die "port $p is already in use by another process (choose KAFKA_PORT/KAFKA_CONTROLLER_PORT)"
  done
  command -v "$JAVA" >/dev/null || die "java not found (Kafka 4.x needs Java 17+)"
  ensure_kafka_jars
  mkdir -p "$LOG_DIR"
  [[ -f "$KAFKA_LOG" ]] && mv -f "$KAFKA_LOG" "$KAFKA_LOG.1"
  : >"$KAFKA_LOG"
  ensure_credentials
  ensure_tls
  write_kafka_props
  kafka_reformat_if_stale
  kafka_format_if_needed

  log "starting kafka node $NODE on 127.0.0.1:$NODE_PORT (controller 127.0.0.1:$NODE_CONTROLLER_PORT)"
  # setsid: own session, so the caller's Ctrl-C / process-group kill does not reach the broker.
  # The inner shell writes its own PID and execs java, so the PID file is the JVM's PID.
  # shellcheck disable=SC2086,SC2016
  nohup setsid bash -c 'echo $$ >"$0"; exec "$@"' "$KAFKA_PID_FILE" \
    "$JAVA" $KAFKA_HEAP_OPTS $KAFKA_GC_OPTS -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
    -Dkafka.logs.dir="$LOG_DIR" \
    -cp "$JAR_CACHE/*" kafka.Kafka "$KAFKA_PROPS" \
    </dev/null >>"$KAFKA_LOG" 2>&1 8>&- 9>&- &
  KAFKA_LAUNCHERS[$NODE]=$!
}

kafka_await_node() {
  local launcher=${KAFKA_LAUNCHERS[$NODE]:-} waited=0 pid=""
  [[ -n "$launcher" ]] || return 0  # it was running already
  while :; do
    [[ -z "$pid" && -s "$KAFKA_PID_FILE" ]] && pid=$(tr -dc '0-9' <"$KAFKA_PID_FILE")
    if [[ -n "$pid" ]]; then
      kill -0 "$pid" 2>/dev/null || { tail -n 40 "$KAFKA_LOG" >&2; rm -f "$KAFKA_PID_FILE"; die "kafka exited during startup (log: $KAFKA_LOG)"; }
      if grep -q 'Kafka Server started' "$KAFKA_LOG" && port_in_use "$NODE_PORT"; then
        break
      fi
    elif ! kill -0 "$launcher" 2>/dev/null; then
      tail -n 40 "$KAFKA_LOG" >&2; die "kafka launcher exited before writing its PID"
    fi
    if ((waited >= KAFKA_READY_TIMEOUT * 4)); then
      tail -n 40 "$KAFKA_LOG" >&2
      [[ -n "$pid" ]] && kafka_kill "$pid"
      rm -f "$KAFKA_PID_FILE"
      die "kafka not ready after ${KAFKA_READY_TIMEOUT}s (log: $KAFKA_LOG)"
    fi
    sleep 0.25
    waited=$((waited + 1))
  done
  log "kafka node $NODE ready (pid $pid) after ~$((waited / 4))s"
  kafka_accepts_admin "$KAFKA_HANDSHAKE_TIMEOUT" && return 0
  die "kafka node $NODE refuses the admin's SCRAM handshake ${KAFKA_HANDSHAKE_TIMEOUT}s after starting (log:" \
    "$KAFKA_LOG). Likely Kafka's defect of docs/decisions.md (\"A broker that refuses every principal\"): a SCRAM" \
    "credential was deleted since the last metadata snapshot, and the restart dropped them all. Starting it again does" \
    "not help. A local instance is formatted anew (its topics and records lost) with: INFRA_NAME=$INFRA_NAME bash" \
    "deploy/local/infra.sh down && rm -rf '$RUN_DIR'/kafka* && INFRA_NAME=$INFRA_NAME bash deploy/local/infra.sh up"
}

# A broker takes its SCRAM credentials from its metadata image, which a restart rebuilds from the metadata log; Kafka
# 4.1.1 to 4.2.0 can drop every credential while doing so after a credential was deleted (docs/decisions.md). The
# platform deletes none since 2026-11-30, but an instance whose log holds an older deletion, or one made by another
# tool, refuses everyone after a restart. So a started node must accept the admin's handshake, or `up` and
# `kafka-restart` end with an error that says what to do. Needs the project's virtualenv (`make` makes it).
kafka_accepts_admin() {  # kafka_accepts_admin SECONDS
  local python="$REPO_ROOT/.venv/bin/python" ca=""
  [[ "$KAFKA_AUTH" == scram && -x "$python" ]] || return 0
  [[ "$KAFKA_TLS" == 1 ]] && ca="$TLS_DIR/ca.crt"
  (cd "$REPO_ROOT" && env -u KAFKA_PASSWORD KAFKA_AUTH=scram KAFKA_PRINCIPAL=admin \
    KAFKA_CREDENTIALS_DIR="$CREDENTIALS_DIR" KAFKA_TLS="$KAFKA_TLS" KAFKA_TLS_CA="$ca" \
    "$python" -m shared.infra.kafka_ready "127.0.0.1:$NODE_PORT" "$1") >>"$KAFKA_LOG" 2>&1
}

kafka_kill() {  # kafka_kill PID: SIGTERM, wait up to 30 s, then SIGKILL
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 120; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.25
  done
  log "kafka (pid $pid) still alive after 30s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.25
  done
}

kafka_down() {
  local pid n
  for ((n = 1; n <= KAFKA_BROKERS; n++)); do
    use_node "$n"
    if pid=$(kafka_pid); then
      log "stopping kafka node $n (pid $pid)"
      kafka_kill "$pid"
    else
      log "kafka node $n not running"
    fi
    rm -f "$KAFKA_PID_FILE"
  done
  use_node 1
}

# ---------------------------------------------------------------- PostgreSQL

as_pg() { (cd / && runuser -u "$PG_USER_OS" -- "$@"); }

pg_running() {
  [[ -n "${PG_DATA:-}" && -f "$PG_DATA/PG_VERSION" ]] || return 1
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

pg_up() {
  if pg_running; then
    log "postgres already running ($DATABASE_URL)"
    if [[ "${PG_FAST:-0}" != "${PG_FAST_EFFECTIVE:-0}" ]]; then
      log "note: PG_FAST=${PG_FAST:-0} ignored; it was started with PG_FAST=${PG_FAST_EFFECTIVE:-0} (run 'down' to change it)"
    fi
    pg_create_db
    return 0
  fi
  [[ -x "$PG_BIN/postgres" ]] || die "PostgreSQL binaries not found in $PG_BIN"
  id "$PG_USER_OS" >/dev/null 2>&1 || die "OS user '$PG_USER_OS' missing (Debian's postgresql package creates it)"
  port_in_use "$PG_PORT" && die "port $PG_PORT is already in use by another process (choose PG_PORT)"

  mkdir -p "$PG_BASE" "$PG_SOCK_DIR" "$LOG_DIR"
  chown "$PG_USER_OS:" "$PG_BASE" "$PG_SOCK_DIR"
  chmod 0755 "$PG_BASE"
  chmod 0700 "$PG_SOCK_DIR"
  touch "$PG_LOG"
  chown "$PG_USER_OS:" "$PG_LOG"
  [[ "$PG_LOG" == "$LOG_DIR/postgres.log" ]] || ln -sfn "$PG_LOG" "$LOG_DIR/postgres.log"

  if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
    rm -rf "$PG_DATA"
    log "initdb $PG_DATA"
    local locale=C
    locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$' && locale=C.UTF-8
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale="$locale" \
      >>"$PG_LOG" 2>&1 || { tail -n 30 "$PG_LOG" >&2; die "initdb failed"; }
  fi

  local opts="-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_SOCK_DIR -c max_connections=300"
  # Sized for write bursts (an expiry flood writes gigabytes of WAL in a minute): with the defaults (1 GB of WAL
  # between checkpoints, 4 MB of WAL buffers, 128 MB of cache) checkpoints were forced every few seconds and
  # backends wrote WAL and dirty pages themselves. Durability is unchanged: fsync stays on unless PG_FAST.
  opts+=" -c shared_buffers=${PG_SHARED_BUFFERS:-512MB} -c wal_buffers=32MB -c max_wal_size=8GB"
  PG_FAST_EFFECTIVE=0
  if [[ "${PG_FAST:-0}" == 1 ]]; then
    opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    PG_FAST_EFFECTIVE=1
  fi
  opts+=" ${PG_EXTRA_OPTS:-}"
  if [[ "$PG_FAST_EFFECTIVE" == 1 ]]; then
    log "starting postgres on 127.0.0.1:$PG_PORT (PG_FAST=1: fsync/synchronous_commit/full_page_writes off)"
  else
    log "starting postgres on 127.0.0.1:$PG_PORT"
  fi
  # 8>&- 9>&-: the daemon must not inherit (and so hold forever) this script's flock fds.
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 -o "$opts" start >/dev/null 8>&- 9>&- ||
    { tail -n 30 "$PG_LOG" >&2; die "postgres failed to start (log: $PG_LOG)"; }
  pg_create_db
}

pg_psql() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"; }

pg_create_db() {
  local exists
  exists=$(pg_psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'") ||
    die "cannot connect to postgres on 127.0.0.1:$PG_PORT"
  if [[ "$exists" != 1 ]]; then
    log "creating database $PG_DB"
    pg_psql -d postgres -c "CREATE DATABASE $PG_DB" >/dev/null
  fi
}

pg_down() {
  if pg_running; then
    log "stopping postgres"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null ||
      die "pg_ctl stop failed (log: $PG_LOG)"
  else
    log "postgres not running"
  fi
}

# ---------------------------------------------------------------- commands

cmd_up() {
  mkdir -p "$RUN_DIR"
  chmod o+x "$REPO_ROOT/.run" "$RUN_DIR" 2>/dev/null || true
  exec 9>"$LOCK_FILE"
  flock 9
  resolve_config
  # PG_FAST is decided when PostgreSQL starts; keep the recorded value if it is already running.
  PG_FAST_EFFECTIVE=$(rec_get PG_FAST)
  choose_processor_port
  choose_gateway_port
  pg_up
  write_instance_file
  kafka_up
  write_instance_file
  env_lines >"$ENV_FILE.tmp.$$"
  mv -f "$ENV_FILE.tmp.$$" "$ENV_FILE"
  env_lines
}

cmd_down() {
  if [[ ! -d "$RUN_DIR" ]]; then
    log "nothing to stop (no $RUN_DIR)"
    return 0
  fi
  exec 9>"$LOCK_FILE"
  flock 9
  resolve_config
  kafka_down
  pg_down
}

cmd_status() {
  resolve_config
  local rc=0 pid
  local n
  for ((n = 1; n <= KAFKA_BROKERS; n++)); do
    use_node "$n"
    if pid=$(kafka_pid); then
      echo "kafka $n:  running  pid=$pid  broker=127.0.0.1:$NODE_PORT  controller=127.0.0.1:$NODE_CONTROLLER_PORT"
    else
      echo "kafka $n:  stopped  (broker would be 127.0.0.1:$NODE_PORT)"
      rc=3
    fi
  done
  use_node 1
  echo "bootstrap: $KAFKA_BOOTSTRAP  (replication factor $KAFKA_REPLICATION, KAFKA_AUTH=$KAFKA_AUTH, KAFKA_TLS=$KAFKA_TLS)"
  if pg_running; then
    local pgpid
    pgpid=$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null || echo '?')
    local fast; fast=$(rec_get PG_FAST)
    echo "postgres: running  pid=$pgpid  url=$DATABASE_URL  data=$PG_DATA${fast:+  pg_fast=$fast}"
  else
    echo "postgres: stopped  (url would be $DATABASE_URL)"
    rc=3
  fi
  echo "instance: $INFRA_NAME  state=$RUN_DIR"
  return "$rc"
}

cmd_env() {
  resolve_config
  env_lines
}

cmd_pg_restart() {
  local mode="${1:-}"
  [[ "$mode" == fast || "$mode" == immediate ]] || die "usage: pg-restart fast|immediate"
  exec 9>"$LOCK_FILE"
  flock 9
  resolve_config
  pg_running || die "postgres is not running (instance '$INFRA_NAME')"
  # pg_ctl restarts the server with the options it was started with (kept in postmaster.opts, PG_FAST included);
  # only the log file must be given again. 8>&- 9>&-: as in pg_up, the new server must not hold our flock fds.
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -m "$mode" -w -t 60 restart >/dev/null 8>&- 9>&- ||
    { tail -n 30 "$PG_LOG" >&2; die "pg_ctl restart -m $mode failed (log: $PG_LOG)"; }
}

cmd_kafka_restart() {  # kafka-restart [SECONDS_DOWN] [term|kill] [NODE]: a broker stopped, kept down, started again
  local down="${1:-5}" how="${2:-term}" node="${3:-1}" pid
  [[ "$down" =~ ^[0-9]+$ && ( "$how" == term || "$how" == kill ) ]] ||
    die "usage: kafka-restart [SECONDS_DOWN] [term|kill] [NODE]"
  exec 9>"$LOCK_FILE"
  flock 9
  resolve_config
  [[ "$node" =~ ^[0-9]+$ ]] && ((node >= 1 && node <= KAFKA_BROKERS)) || die "NODE must be 1..$KAFKA_BROKERS"
  use_node "$node"
  pid=$(kafka_pid) || die "kafka node $node is not running (instance '$INFRA_NAME')"
  if [[ "$how" == kill ]]; then
    log "killing kafka (pid $pid) with SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  else
    kafka_kill "$pid"
  fi
  rm -f "$KAFKA_PID_FILE"
  sleep "$down"
  declare -gA KAFKA_LAUNCHERS=()
  kafka_launch_node
  kafka_await_node
}

main() {
  case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    pg-restart) cmd_pg_restart "${2:-}" ;;
    kafka-restart) cmd_kafka_restart "${2:-}" "${3:-}" "${4:-}" ;;
    *)
      echo "usage: $(basename "$0") up|down|status|env|pg-restart fast|immediate|kafka-restart [SECONDS_DOWN] [term|kill] [NODE]   (KAFKA_BROKERS, INFRA_NAME, KAFKA_PORT, KAFKA_CONTROLLER_PORT, PG_PORT, PROCESSOR_PORT, GATEWAY_PORT, PG_FAST)" >&2
      exit 2
      ;;
  esac
}

main "$@"
