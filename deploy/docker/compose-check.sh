#!/usr/bin/env bash
# `make compose-check`: builds the images (deploy/docker/build.sh: the platform image, and the stand-ins for
# apache/kafka and postgres unless ECTICKET_KAFKA_IMAGE / ECTICKET_POSTGRES_IMAGE name other images), brings
# docker-compose.yml up as a project of its own on ports of its own, waits until every container is healthy, checks
# that the broker refuses clients without credentials (deploy/docker/kafka_refusals.py), drives the demos from the
# host as admin (deploy/local/demo.py over Kafka, demo_http.py through the gateway), checks their answers, and tears
# it all down (volumes too), whatever happened. Logs of containers not healthy are printed on failure.
#
# Environment: COMPOSE_CHECK_KEEP=1 leaves the stack up (tear it down with the command it prints).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd -P)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
cd "$ROOT"
started=$SECONDS
log() { printf 'compose-check [%3d s]: %s\n' "$((SECONDS - started))" "$*" >&2; }

# The compose v2 plugin where there is one, else Debian's docker-compose 1.29 (both read the same file).
if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null; then
  COMPOSE=(docker-compose)
else
  log "neither 'docker compose' nor 'docker-compose' (apt-get install -y docker-compose)"; exit 1
fi

export COMPOSE_PROJECT_NAME="${COMPOSE_PROJECT_NAME:-ecticket-check}"
# The stand-ins unless other images are named (e.g. ECTICKET_KAFKA_IMAGE=apache/kafka:4.1.1 where a registry answers).
build=(platform)
[[ -n "${ECTICKET_KAFKA_IMAGE:-}" ]] || { export ECTICKET_KAFKA_IMAGE=ecticket-kafka:4.1.1; build+=(kafka); }
[[ -n "${ECTICKET_POSTGRES_IMAGE:-}" ]] || { export ECTICKET_POSTGRES_IMAGE=ecticket-postgres:15; build+=(postgres); }
export ECTICKET_PLATFORM_IMAGE="${ECTICKET_PLATFORM_IMAGE:-ecticket-platform:local}"
# Ports of its own, so a `make run` (dev) or `make test` instance on this machine is not in the way.
export KAFKA_HOST_PORT="${KAFKA_HOST_PORT:-29192}" POSTGRES_HOST_PORT="${POSTGRES_HOST_PORT:-25532}"
export PROCESSOR_HOST_PORT="${PROCESSOR_HOST_PORT:-28190}" GATEWAY_HOST_PORT="${GATEWAY_HOST_PORT:-28180}"
export OPS_HOST_PORT="${OPS_HOST_PORT:-26166}" POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-compose-check}"
# Fresh volumes every run, so fresh keys are right (a kept stack would need the same keys again).
export ECTICKET_CONFIG_KEY="${ECTICKET_CONFIG_KEY:-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}"
export ECTICKET_AUDIT_SIGNING_KEY="${ECTICKET_AUDIT_SIGNING_KEY:-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}"
export ECTICKET_CODE_KEY="${ECTICKET_CODE_KEY:-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}"
export ECTICKET_AUDIT_KEY_ID="${ECTICKET_AUDIT_KEY_ID:-compose-check}"

down() { "${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1 || true; }
show_unhealthy() {
  local id name state
  for id in $("${COMPOSE[@]}" ps -q); do
    name=$(docker inspect --format '{{.Name}}' "$id")
    state=$(docker inspect --format '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}} exit={{.State.ExitCode}}' "$id")
    [[ "$state" == "running healthy "* || "$name" =~ [-_](setup|credentials)[-_] && "$state" == "exited  exit=0" ]] &&
      continue
    log "$name: $state; its last log lines:"
    docker logs --tail 40 "$id" 2>&1 | sed 's/^/    /' >&2
  done
}
finish() {
  local status=$?
  ((status == 0)) || show_unhealthy
  if [[ "${COMPOSE_CHECK_KEEP:-0}" == 1 ]]; then
    log "left running: COMPOSE_PROJECT_NAME=$COMPOSE_PROJECT_NAME ${COMPOSE[*]} down -v"
  else
    log "tearing down"; down
  fi
  if ((status == 0)); then log "passed"; else log "FAILED (exit $status)"; fi
  exit "$status"
}

bash deploy/docker/build.sh "${build[@]}"
log "images built"
down  # leftovers of an interrupted run
trap finish EXIT
log "${COMPOSE[*]} up (project $COMPOSE_PROJECT_NAME)"
"${COMPOSE[@]}" up -d --no-build >/dev/null

# Every long-running container healthy, the setup job exited 0; a container that exits or turns unhealthy fails.
deadline=$((SECONDS + ${COMPOSE_CHECK_TIMEOUT:-420}))
while :; do
  waiting=0
  for id in $("${COMPOSE[@]}" ps -q); do
    read -r name status health code < <(docker inspect --format \
      '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.ExitCode}}' "$id")
    case "$name:$status:$health" in
      *[-_]setup[-_]*:exited:none | *[-_]credentials[-_]*:exited:none)
        ((code == 0)) || { log "$name exited $code"; exit 1; } ;;
      *:running:healthy) ;;
      *:running:starting | *:created:* | *[-_]setup[-_]*:running:none | *[-_]credentials[-_]*:running:none)
        waiting=$((waiting + 1)) ;;
      *) log "$name is $status/$health"; exit 1 ;;
    esac
  done
  ((waiting == 0)) && break
  ((SECONDS < deadline)) || { log "still $waiting containers not healthy"; exit 1; }
  sleep 2
done
log "$("${COMPOSE[@]}" ps -q | wc -l) containers up, all healthy"

# From the host, through the published ports. The broker authenticates: the host's tools act as admin, with the
# password the credentials job made (read from the broker's volume; it is in no file on the host).
export KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_HOST_PORT" KAFKA_AUTH=scram KAFKA_TLS=0 KAFKA_PRINCIPAL=admin
unset KAFKA_CREDENTIALS_DIR KAFKA_TLS_CA  # a sourced .run/<name>/env's, which are another broker's
refusals_log="$ROOT/.cache/docker/compose-check-refusals.log"
refusals=$("${COMPOSE[@]}" exec -T kafka cat /etc/kafka/credentials/notification |
  timeout 120 "$PY" deploy/docker/kafka_refusals.py notification 2>"$refusals_log") ||
  { printf '%s\n' "$refusals" >&2; tail -n 20 "$refusals_log" >&2; log "the broker let in what it must refuse"; exit 1; }
log "the broker refuses: $(printf '%s' "$refusals" | sed 's/^ok *//' | paste -sd ';' | sed 's/;/; /g')"
KAFKA_PASSWORD=$("${COMPOSE[@]}" exec -T kafka cat /etc/kafka/credentials/admin)
export KAFKA_PASSWORD
export DATABASE_URL="postgresql://postgres:$POSTGRES_PASSWORD@127.0.0.1:$POSTGRES_HOST_PORT/ecticket"
export PROCESSOR_URL="http://127.0.0.1:$PROCESSOR_HOST_PORT"
demo_log="$ROOT/.cache/docker/compose-check-demo.log"
log "demo (output in $demo_log)"
if ! timeout 300 "$PY" deploy/local/demo.py >"$demo_log" 2>&1; then
  tail -n 40 "$demo_log" >&2; log "the demo failed"; exit 1
fi
# What the demo's requests must be answered (deploy/local/demo.py, in order): four issued orders, the wrong amount
# refused (2007), a write-off and its repeat (3002), a refund and the refund of a written-off voucher (3008); and
# the merchant's statement closing at the write-off's NT$500 plus the refund fee's NT$50.
codes=$(sed -n 's/.*platform -> reply RtnCode \([0-9]*\) .*/\1/p' "$demo_log" | tr '\n' ' ')
if [[ "$codes" != "1 1 1 1 2007 1 3002 1 3008 " ]]; then
  cat "$demo_log" >&2; log "the demo's replies were RtnCode $codes"; exit 1
fi
grep -q ',closing,,,,total,,,,550$' "$demo_log" || { cat "$demo_log" >&2; log "the statement does not close at 550"; exit 1; }
log "demo answered as expected (RtnCode $codes; statement total 550)"

# The HTTP demo (deploy/local/demo_http.py) through the gateway: ECPay's callback to the webhook, then every
# ECTicket call over HTTP answered RtnCode 1, and the order and refund read back as made.
http_log="$ROOT/.cache/docker/compose-check-demo-http.log"
log "HTTP demo (output in $http_log)"
if ! GATEWAY_URL="http://127.0.0.1:$GATEWAY_HOST_PORT" timeout 300 "$PY" deploy/local/demo_http.py >"$http_log" 2>&1; then
  tail -n 40 "$http_log" >&2; log "the HTTP demo failed"; exit 1
fi
calls=$(grep -c -- '-> RtnCode' "$http_log" || true)
# Eleven calls, or more when QueryIssueResult is asked again while the order is still processing.
if ((calls < 11)) || grep -- '-> RtnCode' "$http_log" | grep -qv -- '-> RtnCode 1 Success' ||
   ! grep -q 'webhook -> HTTP 200 1|OK' "$http_log" || ! grep -q 'order: 2 tickets, 1 refunded, 1 unused' "$http_log" ||
   ! grep -qF "refunds: NT\$450 back to the consumer, NT\$50 fee" "$http_log"; then
  cat "$http_log" >&2; log "the HTTP demo's answers were not the expected ones"; exit 1
fi
log "HTTP demo answered as expected ($calls calls, RtnCode 1 each; order 2 tickets, 1 refunded; NT\$450 + NT\$50 fee)"
