#!/bin/sh
# A restarted container keeps its file system: the readiness marker of the previous run must not make it healthy.
rm -f "${ECTICKET_READY_FILE:-/tmp/ecticket-ready}"
exec "$@"
