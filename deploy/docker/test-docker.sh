#!/usr/bin/env bash
# `make test-docker`: a part of the suite on Kafka and PostgreSQL containers, through tests/conftest.py's
# testcontainers path (it starts them when the environment names no servers). The images are the stand-ins
# (deploy/docker/build.sh) unless ECTICKET_KAFKA_IMAGE / ECTICKET_POSTGRES_IMAGE name others.
#
# Usage: deploy/docker/test-docker.sh [pytest options]     (DOCKER_TESTS="tests/integration/test_x.py ..." to choose
#        other files than the ones below)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd -P)"
cd "$ROOT"
# Messaging (dead letters, the bulk outbox), the compacted config view, and the whole platform's processes
# answering queries: each layer's contact with Kafka and PostgreSQL, in about a minute of tests.
read -r -a files <<<"${DOCKER_TESTS:-tests/integration/test_dead_letters.py tests/integration/test_compacted_view.py \
  tests/integration/test_outbox_bulk.py tests/integration/test_queries.py}"
build=()
[[ -n "${ECTICKET_KAFKA_IMAGE:-}" ]] || { export ECTICKET_KAFKA_IMAGE=ecticket-kafka:4.1.1; build+=(kafka); }
[[ -n "${ECTICKET_POSTGRES_IMAGE:-}" ]] || { export ECTICKET_POSTGRES_IMAGE=ecticket-postgres:15; build+=(postgres); }
((${#build[@]} == 0)) || bash deploy/docker/build.sh "${build[@]}"
# Ryuk, testcontainers' reaper of leftover containers, is an image from Docker Hub: off where no registry answers
# (the fixture stops its containers itself; TESTCONTAINERS_RYUK_DISABLED=false turns it back on).
export TESTCONTAINERS_RYUK_DISABLED="${TESTCONTAINERS_RYUK_DISABLED:-true}"
# No servers in the environment, so the fixture starts containers (a sourced .run/<name>/env must not win).
unset KAFKA_BOOTSTRAP DATABASE_URL KAFKA_CREDENTIALS_DIR KAFKA_PASSWORD KAFKA_PRINCIPAL KAFKA_TLS_CA
# The broker authenticates as docker-compose.yml's does (passwords made for the session: tests/support/containers.py);
# KAFKA_AUTH=none runs it PLAINTEXT. Set here, not by the fixture, because tests read it when they are collected.
export KAFKA_AUTH="${KAFKA_AUTH:-scram}" KAFKA_TLS=0
exec "$ROOT/.venv/bin/pytest" "${files[@]}" "$@"
