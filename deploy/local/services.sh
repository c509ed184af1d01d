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
SERVICES=(${ECTICKET_SERVICES:-payment_processor payment_confirmation issuance redemption escrow_settlement query escrow_bank gateway notification})

# What `python -m` runs for a process name: services.<name>, or a simulator under deploy/simulators/.
module_of() {
  case "$1" in
    escrow_bank) echo "deploy.simulators.bank" ;;
    payment_processor) echo "deploy.simulators.processor" ;;
    *) echo "services.$1" ;;
  esac
}

start() {
  [[ -f "$RUN/env" ]] || { echo "infra $NAME is not up (run deploy/local/infra.sh up)" >&2; exit 1; }
  # shellcheck disable=SC1091
  source "$RUN/env"
  mkdir -p "$RUN/pids" "$RUN/logs"
  for svc in "${SERVICES[@]}"; do
    pidfile="$RUN/pids/$svc.pid"
    if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "$svc already running (pid $(cat "$pidfile"))"; continue
    fi
    rm -f "$RUN/pids/$svc.ready"
    # Inside the subshell `&` backgrounds python itself, so $! is the service's own pid (what stop signals).
    (
      cd "$ROOT"
      ECTICKET_READY_FILE="$RUN/pids/$svc.ready" nohup "$PY" -m "$(module_of "$svc")" >>"$RUN/logs/$svc.log" 2>&1 &
      echo $! >"$pidfile"
    )
    echo "$svc started (pid $(cat "$pidfile"))"
  done
  for svc in "${SERVICES[@]}"; do
    for _ in $(seq 1 300); do
      [[ -f "$RUN/pids/$svc.ready" ]] && break
      kill -0 "$(cat "$RUN/pids/$svc.pid")" 2>/dev/null || { echo "$svc died:" >&2; tail -20 "$RUN/logs/$svc.log" >&2; exit 1; }
      sleep 0.1
    done
    [[ -f "$RUN/pids/$svc.ready" ]] || { echo "$svc not ready after 30 s" >&2; exit 1; }
  done
  echo "services ready: ${SERVICES[*]}"
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
