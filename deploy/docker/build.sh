#!/usr/bin/env bash
# Builds the images docker-compose.yml and the tests' containers run, on a machine that reaches no image registry
# (and whose builds reach no package index): the Debian base (base-image.sh), then from it
#   kafka     ecticket-kafka:4.1.1     the stand-in for apache/kafka: Kafka from Maven Central jars fetched on the host
#   postgres  ecticket-postgres:15     the stand-in for postgres: PostgreSQL 15 from Debian's packages
#   platform  ECTICKET_PLATFORM_IMAGE  (default ecticket-platform:local) the services, with wheels made on the host
# Layers are reused between runs: only what changed is rebuilt.
#
# Usage: deploy/docker/build.sh [all|kafka|postgres|platform]...     (default all)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd -P)"
HERE="$ROOT/deploy/docker"
BASE="${ECTICKET_BASE_IMAGE:-ecticket-base:bookworm}"
# Names of their own, never the official ones: a machine that has both keeps both.
KAFKA_IMAGE=ecticket-kafka:4.1.1
POSTGRES_IMAGE=ecticket-postgres:15
PLATFORM_IMAGE="${ECTICKET_PLATFORM_IMAGE:-ecticket-platform:local}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
STAGE="$ROOT/.cache/docker"

log() { printf 'docker-build: %s\n' "$*" >&2; }

# The Dockerfiles need BuildKit. A Docker 23+ CLI has it through the buildx plugin; Debian's docker.io 20.10 CLI
# (/usr/bin/docker) has it built in, which is what a machine with only Debian's packages can use.
builder() {
  if docker buildx version >/dev/null 2>&1; then
    echo docker
  elif [[ -x /usr/bin/docker ]] && /usr/bin/docker version --format '{{.Client.Version}}' 2>/dev/null | grep -q '^20\.'; then
    echo /usr/bin/docker
  else
    log "no BuildKit: install the buildx plugin (or Debian's docker.io, whose CLI builds with DOCKER_BUILDKIT=1)"
    exit 1
  fi
}

build() {  # build IMAGE CONTEXT DOCKERFILE [extra args]
  local image=$1 context=$2 dockerfile=$3 started=$SECONDS
  shift 3
  log "building $image"
  DOCKER_BUILDKIT=1 "$(builder)" build --network host --progress plain -q -t "$image" -f "$dockerfile" \
    --build-arg BASE_IMAGE="$BASE" "$@" "$context" >/dev/null
  log "$image ready ($((SECONDS - started)) s)"
}

stamp_ok() {  # stamp_ok SOURCE DIR: DIR was filled from SOURCE as it is now
  [[ "$(cat "$2/.stamp" 2>/dev/null)" == "$(sha256sum <"$1" | cut -d' ' -f1)" ]]
}

kafka() {
  local context="$STAGE/kafka" pom="$HERE/kafka/pom.xml"
  mkdir -p "$context"
  if ! stamp_ok "$pom" "$context/libs"; then
    log "fetching the Kafka jars with Maven (deploy/docker/kafka/pom.xml)"
    rm -rf "$context/libs"
    mvn -B -q -Dstyle.color=never -f "$pom" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$context/libs" >"$STAGE/kafka-mvn.log" 2>&1 ||
      { tail -n 30 "$STAGE/kafka-mvn.log" >&2; exit 1; }
    sha256sum <"$pom" | cut -d' ' -f1 >"$context/libs/.stamp"
  fi
  cp "$ROOT/deploy/local/kafka/log4j2.properties" "$HERE/kafka/run" "$HERE/kafka/kafka-broker-api-versions.sh" \
    "$HERE/kafka/kafka-storage.sh" "$context/"
  build "$KAFKA_IMAGE" "$context" "$HERE/kafka/Dockerfile"
}

postgres() {
  build "$POSTGRES_IMAGE" "$HERE/postgres" "$HERE/postgres/Dockerfile"
}

platform() {
  local wheels="$HERE/wheelhouse"
  if ! stamp_ok "$ROOT/pyproject.toml" "$wheels"; then
    log "making the wheels of the dependencies on the host (deploy/docker/wheelhouse)"
    "$PY" -c "import tomllib; print('\n'.join(tomllib.load(open('$ROOT/pyproject.toml', 'rb'))['project']['dependencies']))" \
      >"$STAGE/requirements.txt"
    "$PY" -m pip wheel -q --wheel-dir "$wheels" -r "$STAGE/requirements.txt"
    sha256sum <"$ROOT/pyproject.toml" | cut -d' ' -f1 >"$wheels/.stamp"
  fi
  build "$PLATFORM_IMAGE" "$ROOT" "$HERE/Dockerfile" --build-arg PIP_NO_INDEX=1
}

mkdir -p "$STAGE"
bash "$HERE/base-image.sh" "$BASE"
targets=("$@")
[[ ${#targets[@]} -gt 0 && "${targets[0]}" != all ]] || targets=(postgres kafka platform)
for target in "${targets[@]}"; do
  case "$target" in
    kafka | postgres | platform) "$target" ;;
    *) log "unknown target $target (all, kafka, postgres, platform)"; exit 2 ;;
  esac
done
