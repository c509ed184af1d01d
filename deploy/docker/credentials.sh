#!/bin/sh
# docker-compose.yml's one-shot `credentials` job (the platform image, as root): a random Kafka password per principal
# named on the command line, made at the first start and kept in named volumes, never in the repository.
#
#   /credentials/kafka/<principal>         every password, for the broker's SCRAM format step (deploy/docker/kafka/scram-run)
#   /credentials/<principal>/<principal>   the principal's own, in a volume only its container mounts
#
# Run again (every `up`), it keeps what exists and only copies it where it is missing: a password changed here
# would no longer match the credential the broker was formatted with.
set -eu
ALL=/credentials/kafka
SERVICE_UID=10001  # the platform image's user (deploy/docker/Dockerfile)
umask 077
[ "$#" -gt 0 ] || { echo "credentials: name the principals" >&2; exit 2; }
chmod 0755 "$ALL"
made=0
for principal in "$@"; do
  if [ ! -s "$ALL/$principal" ]; then
    od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$ALL/$principal.new"
    mv "$ALL/$principal.new" "$ALL/$principal"
    made=$((made + 1))
  fi
  # Readable by the broker's user, whichever uid its image gives it: only the broker's container mounts this volume.
  chmod 0444 "$ALL/$principal"
  own="/credentials/$principal"
  [ -d "$own" ] || continue  # a principal with no container here (the auditor): its password is the broker's only
  cp "$ALL/$principal" "$own/$principal"
  chown "$SERVICE_UID" "$own" "$own/$principal"
  chmod 0700 "$own"
  chmod 0400 "$own/$principal"
done
echo "credentials: $# principals, $made passwords made now"
