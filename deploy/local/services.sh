#!/usr/bin/env bash
# Start or stop the platform's service processes against the local infra instance (INFRA_NAME, default dev).
# Each process gets a pid file and a log under .run/<INFRA_NAME>/; stop sends SIGTERM, then SIGKILL.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
NAME="${INFRA_NAME:-dev}"
RUN="$ROOT/.run/$NAME"
PY="$ROOT/.venv/bin/python"
# The services, and the simulators of the outside systems they talk to (the payment processor records the
# sandbox's payments and answers the platform's trade queries; the escrow bank answers settlement's payout and
# refund instructions).
SERVICES=(${ECTICKET_SERVICES:-payment_processor payment_confirmation issuance redemption escrow_settlement query escrow_bank gateway notification ops})

# What `python -m` runs for a process name: services.<name>, or a simulator under deploy/simulators/.
module_of() {
  case "$1" in
    escrow_bank) echo "deploy.simulators.bank" ;;
    payment_processor) echo "deploy.simulators.processor" ;;
    *) echo "services.$1" ;;
  esac
}

# How many instances of a service to run: ECTICKET_INSTANCES_<name> (e.g. ECTICKET_INSTANCES_redemption=3), else
# ECTICKET_INSTANCES, else 1. The simulators stand for one outside system each: always one.
instances_of() {
  case "$1" in
    escrow_bank|payment_processor) echo 1; return ;;
    ops) echo 1; return ;;  # one dashboard on OPS_WEB_PORT (a second instance would find the port taken)
  esac
  local per="ECTICKET_INSTANCES_$1"
  echo "${!per:-${ECTICKET_INSTANCES:-1}}"
}

# A process's name: the service for its first instance (pid file, log), <service>-<n> for the others.
process_name() { if [[ "$2" == 1 ]]; then echo "$1"; else echo "$1-$2"; fi; }

# Running, and not on its way out: a pid that answers kill -0 may be a zombie, or have a SIGKILL pending (seen right
# after a kill -9: "already running", and the service stayed down), or belong to another program since.
alive() {
  local pid="$1" module="$2" state pending
  kill -0 "$pid" 2>/dev/null || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ "$state" == Z || "$state" == X ]] && return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-m $module" || return 1
  for pending in $(awk '/^(SigPnd|ShdPnd):/ {print $2}' "/proc/$pid/status" 2>/dev/null); do
    (( (16#$pending & 0x100) != 0 )) && return 1  # SIGKILL (9) pending: dying
  done
  return 0
}

# Wait (up to 5 s) for a process that is on its way out to be gone, so a restart never races its predecessor.
await_exit() {
  local pid="$1"
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}

start() {
  [[ -f "$RUN/env" ]] || { echo "infra $NAME is not up (run deploy/local/infra.sh up)" >&2; exit 1; }
  # shellcheck disable=SC1091
  source "$RUN/env"
  mkdir -p "$RUN/pids" "$RUN/logs"
  local started=()
  for svc in "${SERVICES[@]}"; do
    local module count
    module="$(module_of "$svc")"
    count="$(instances_of "$svc")"
    for i in $(seq 1 "$count"); do
      local proc pidfile
      proc="$(process_name "$svc" "$i")"
      pidfile="$RUN/pids/$proc.pid"
      if [[ -f "$pidfile" ]]; then
        if alive "$(cat "$pidfile")" "$module"; then
          echo "$proc already running (pid $(cat "$pidfile"))"; started+=("$proc"); continue
        fi
        await_exit "$(cat "$pidfile")"
      fi
      rm -f "$RUN/pids/$proc.ready"
      # Inside the subshell `&` backgrounds python itself, so $! is the service's own pid (what stop signals).
      # ECTICKET_INSTANCE_ID: a stable id per instance, its static membership in the consumer group (a restarted
      # instance takes its partitions back without a group-wide rebalance). Instance n of the gateway listens on
      # GATEWAY_PORT + 100 * (n - 1): the ports right after GATEWAY_PORT are the instance's ops dashboard and others
      # (infra.sh), and a load balancer in front of the gateways is the deployment's.
      (
        cd "$ROOT"
        export ECTICKET_INSTANCE_ID="$svc-$i"
        [[ "$svc" == gateway && -n "${GATEWAY_PORT:-}" ]] && export GATEWAY_PORT=$((GATEWAY_PORT + 100 * (i - 1)))
        ECTICKET_READY_FILE="$RUN/pids/$proc.ready" nohup "$PY" -m "$module" >>"$RUN/logs/$proc.log" 2>&1 &
        echo $! >"$pidfile"
      )
      echo "$proc started (pid $(cat "$pidfile"))"
      started+=("$proc")
    done
  done
  for proc in "${started[@]}"; do
    for _ in $(seq 1 300); do
      [[ -f "$RUN/pids/$proc.ready" ]] && break
      kill -0 "$(cat "$RUN/pids/$proc.pid")" 2>/dev/null || { echo "$proc died:" >&2; tail -20 "$RUN/logs/$proc.log" >&2; exit 1; }
      sleep 0.1
    done
    [[ -f "$RUN/pids/$proc.ready" ]] || { echo "$proc not ready after 30 s" >&2; exit 1; }
  done
  echo "services ready: ${started[*]}"
}

stop() {
  for pidfile in "$RUN"/pids/*.pid; do
    [[ -f "$pidfile" ]] || continue
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile" "${pidfile%.pid}.ready"
  done
  echo "services stopped"
}

status() {
  for pidfile in "$RUN"/pids/*.pid; do
    [[ -f "$pidfile" ]] || continue
    svc="$(basename "$pidfile" .pid)"
    if kill -0 "$(cat "$pidfile")" 2>/dev/null; then echo "$svc running"; else echo "$svc dead"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
