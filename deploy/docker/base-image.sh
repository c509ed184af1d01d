#!/usr/bin/env bash
# Makes the Debian base image the stand-in images build FROM on a machine that reaches no image registry:
# debootstrap (minbase) from the Debian mirror apt already uses, then `docker import`. Idempotent: an existing
# image of that name is kept (remove it with `docker rmi` to rebuild).
#
# Usage: deploy/docker/base-image.sh [IMAGE]      (default ecticket-base:bookworm; needs root, debootstrap, docker)
set -euo pipefail
IMAGE="${1:-${ECTICKET_BASE_IMAGE:-ecticket-base:bookworm}}"
SUITE="${DEBIAN_SUITE:-bookworm}"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "base-image: $IMAGE exists"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "base-image: install debootstrap (apt-get install -y debootstrap)" >&2; exit 1; }

# The mirror this machine's apt uses (deb822 sources first, then the classic list), so no other host is contacted.
MIRROR="${DEBIAN_MIRROR:-}"
if [[ -z "$MIRROR" ]]; then
  MIRROR=$(grep -hs '^URIs:' /etc/apt/sources.list.d/debian.sources | awk '{print $2}' | head -n1 || true)
fi
if [[ -z "$MIRROR" ]]; then
  MIRROR=$(grep -hs '^deb ' /etc/apt/sources.list | grep -v security | awk '{print $2}' | head -n1 || true)
fi
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

ROOTFS=$(mktemp -d /var/tmp/ecticket-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
echo "base-image: debootstrap $SUITE from $MIRROR"
debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 ||
  { tail -n 30 "$ROOTFS.log" >&2; rm -f "$ROOTFS.log"; exit 1; }
rm -f "$ROOTFS.log"
# Keep images small: no apt caches or docs in the layers the Dockerfiles add.
printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\n' \
  >"$ROOTFS/etc/dpkg/dpkg.cfg.d/01-nodoc"
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$ROOTFS/etc/apt/apt.conf.d/01-norecommends"
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
tar -C "$ROOTFS" -c . | docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["bash"]' - "$IMAGE" >/dev/null
echo "base-image: $IMAGE ($(docker run --rm "$IMAGE" cat /etc/debian_version))"
