#!/usr/bin/env bash
# Build the relay's image with no registry of base images, and run its file system.
#
# 1. a base image from Debian's packages (debootstrap: Python 3.11, venv, CA certificates),
#    slimmed (no apt, no docs, no locales) and imported into Podman;
# 2. a wheelhouse of the package and every dependency at the versions of constraints.txt,
#    made by this machine's pip and served on loopback for the build (no index is needed);
# 3. `podman build` of the Containerfile on that base (RUN steps under chroot isolation,
#    since this sandbox cannot start containers);
# 4. the image's file system exported and run, read-only but for /data, as the image's
#    non-root user, under chroot in a private mount namespace: `receiver demo`, then
#    `receiver serve` until /readyz answers 200, then SIGTERM;
# 5. the figures docs/operations.md quotes ("The image"), last, and in $WORK/figures.txt: the
#    image's size as Podman counts it, its base's, the virtualenv's, the exported file
#    system's, the build's warnings (none expected) and each step's seconds.
#
# Not part of CI (several minutes). Run as root on Debian or Ubuntu:
#   bash deploy/build-here.sh [WORKDIR]      # default WORKDIR: /var/tmp/runway-relay-image
# Environment: EXTRAS (default all), SUITE (default bookworm), DEBIAN_MIRROR (default: the
# first of this machine's apt sources), KEEP_BASE=1 to reuse a base built before.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
WORK=${1:-/var/tmp/runway-relay-image}
EXTRAS=${EXTRAS:-all}
SUITE=${SUITE:-bookworm}
BASE_TAG=localhost/runway-relay-base:$SUITE
BUILD_TAG=localhost/runway-relay-build:$SUITE
IMAGE_TAG=localhost/runway-relay:dev
PYTHON=${PYTHON:-python3}
started=$(date +%s)
step() { echo "== $(( $(date +%s) - started ))s: $*"; }
bytes() { echo "$(numfmt --to=si "$1")B ($1 bytes)"; }

[ "$(id -u)" = 0 ] || { echo "run as root (debootstrap, chroot, mounts)" >&2; exit 2; }
if ! command -v debootstrap >/dev/null || ! command -v podman >/dev/null; then
  step "installing debootstrap, podman and buildah"
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap podman buildah
fi
mirror=${DEBIAN_MIRROR:-$(grep -h -o -m1 -E '^(URIs:|deb) +[a-z]+://[^ ]+/debian/?( |$)' \
  /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -n1 | awk '{print $2}' || true)}
[ -n "$mirror" ] || { echo "no Debian mirror found: set DEBIAN_MIRROR" >&2; exit 2; }
mkdir -p "$WORK"

# 1. The base.
if [ "${KEEP_BASE:-0}" = 1 ] && podman image exists "$BASE_TAG" && podman image exists "$BUILD_TAG"; then
  step "reusing $BASE_TAG and $BUILD_TAG"
else
  step "debootstrap $SUITE from the machine's mirror"
  rm -rf "$WORK/base"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,binutils \
    "$SUITE" "$WORK/base" "$mirror" >"$WORK/debootstrap.log"
  rm -rf "$WORK/base"/var/cache/apt/archives/*.deb "$WORK/base"/var/lib/apt/lists/*
  # The build stage's base: with binutils' strip.
  tar -C "$WORK/base" -c . | podman import --quiet --change 'CMD ["python3"]' - "$BUILD_TAG" >/dev/null
  # The final stage's: nothing in the image installs system packages, so the package manager,
  # its Perl and its TLS stack go, with binutils, glibc's charset converters (Python has its
  # own codecs), the documentation, manuals and locales.
  chroot "$WORK/base" dpkg --purge --force-remove-essential --force-depends \
    apt perl-base debconf binutils binutils-common binutils-x86-64-linux-gnu libbinutils \
    libctf0 libctf-nobfd0 libgprofng0 libjansson4 libapt-pkg6.0 gpgv libgnutls30 \
    libhogweed6 libnettle8 libp11-kit0 libtasn1-6 >/dev/null 2>&1 || true
  rm -rf "$WORK/base"/var/cache/apt "$WORK/base"/var/lib/apt "$WORK/base"/var/log/* \
    "$WORK/base"/usr/share/{doc,man,info,locale,lintian,perl5} \
    "$WORK/base"/usr/lib/x86_64-linux-gnu/{perl*,gconv}
  tar -C "$WORK/base" -c . | podman import --quiet --change 'CMD ["python3"]' - "$BASE_TAG" >/dev/null
fi
base_size=$(podman image inspect --format '{{.Size}}' "$BASE_TAG")
step "base: $(bytes "$base_size")"

# 2. The wheelhouse, served on loopback for the build's pip.
step "wheelhouse ($EXTRAS)"
rm -rf "$WORK/wheels" && mkdir -p "$WORK/wheels"
# async-timeout: redis needs it below Python 3.11.3 (Debian 12 has 3.11.2), whatever the
# Python that makes the wheelhouse.
"$PYTHON" -m pip wheel --quiet -c constraints.txt --wheel-dir "$WORK/wheels" \
  ".${EXTRAS:+[$EXTRAS]}" "setuptools>=68" "async-timeout>=4.0.3" 2>&1 | grep -v '^WARNING: Location' || true
[ -n "$(ls "$WORK"/wheels/runway_relay-*.whl 2>/dev/null)" ] || { echo "the wheelhouse failed" >&2; exit 1; }
port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PYTHON" -m http.server --bind 127.0.0.1 --directory "$WORK/wheels" "$port" >/dev/null 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT

# 3. The image.
step "podman build"
build_started=$(date +%s)
podman build --quiet --isolation=chroot --network=host --layers=false --format=docker \
  --build-arg BASE_IMAGE="$BASE_TAG" --build-arg BUILD_IMAGE="$BUILD_TAG" --build-arg EXTRAS="$EXTRAS" \
  --build-arg PIP_FIND_LINKS="http://127.0.0.1:$port/" --build-arg PIP_NO_INDEX=1 \
  -t "$IMAGE_TAG" -f Containerfile . >/dev/null 2>"$WORK/build.err" || { cat "$WORK/build.err" >&2; exit 1; }
build_seconds=$(( $(date +%s) - build_started ))
cat "$WORK/build.err" >&2
warnings=$(grep -ci 'warn' "$WORK/build.err" || true)
size=$(podman image inspect --format '{{.Size}}' "$IMAGE_TAG")
step "image $IMAGE_TAG: $(bytes "$size"), $warnings build warnings"

# 4. Its file system, run.
step "exporting the image's file system"
rm -rf "$WORK/rootfs" "$WORK/data" && mkdir -p "$WORK/rootfs" "$WORK/data"
# No health check: podman would set up a systemd timer for it, which this sandbox has not.
container=$(podman create --no-healthcheck "$IMAGE_TAG")
podman export "$container" | tar -C "$WORK/rootfs" -x
podman rm "$container" >/dev/null
rootfs_size=$(du -s --bytes "$WORK/rootfs" | cut -f1)
venv_size=$(du -s --bytes "$WORK/rootfs/opt/relay" | cut -f1)
echo "installed size: $(bytes "$rootfs_size"), of it the virtualenv $(bytes "$venv_size")"
chown 10001:10001 "$WORK/data"
mapfile -t image_env < <(podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$IMAGE_TAG" | sed '/^$/d')
serve_port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
secret() { "$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(24))'; }

step "receiver demo, then serve until /readyz, inside the image's file system (read-only)"
unshare --mount --propagation private env \
  ROOTFS="$WORK/rootfs" DATA="$WORK/data" PORT_TO_USE="$serve_port" \
  ADMIN="$(secret)" SIGNING="$(secret)" PYTHON="$PYTHON" \
  bash -s -- "${image_env[@]}" <<'INSIDE'
set -euo pipefail
mount --bind "$ROOTFS" "$ROOTFS"
mount --bind /proc "$ROOTFS/proc"
mount --rbind /dev "$ROOTFS/dev"
mount --bind "$DATA" "$ROOTFS/data"
mount -t tmpfs -o size=64m tmpfs "$ROOTFS/tmp"
mount -o remount,bind,ro "$ROOTFS"   # the root file system read-only, as in production
run() { chroot --userspec=10001:10001 "$ROOTFS" env -i "$@"; }
run "$@" HOME=/data TMPDIR=/tmp sh -c 'cd /data && receiver demo' | tail -n 3
# chroot itself in the background (not a function's subshell): the SIGTERM below reaches
# the relay, which chroot, env and sh each exec into.
chroot --userspec=10001:10001 "$ROOTFS" env -i "$@" HOME=/data TMPDIR=/tmp PORT="$PORT_TO_USE" \
  COMETAPI_KEY=sk-not-used-here RECEIVER_ADMIN_TOKEN="$ADMIN" RECEIVER_SECRET="$SIGNING" \
  RECEIVER__SERVER__DRAIN_SECONDS=1 sh -c 'cd /data && exec receiver serve' >"$DATA/serve.log" 2>&1 &
serving=$!
for _ in $(seq 1 300); do
  if "$PYTHON" -c "import sys, urllib.request as r; sys.exit(r.urlopen('http://127.0.0.1:$PORT_TO_USE/readyz', timeout=2).status != 200)" 2>/dev/null; then
    echo "serve: /readyz answered 200"; break
  fi
  kill -0 "$serving" 2>/dev/null || { cat "$DATA/serve.log"; exit 1; }
  sleep 0.2
done
# The image's own health check, as the container engine would run it.
run "$@" PORT="$PORT_TO_USE" python3 -c "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('PORT', '8080'), timeout=4)"
echo "HEALTHCHECK command: ok"
kill -TERM "$serving"
wait "$serving" || true
if grep -q '"service.stopped"' "$DATA/serve.log" && grep -q '"server.draining"' "$DATA/serve.log"; then
  echo "serve: drained and stopped on SIGTERM"
else
  tail -n 5 "$DATA/serve.log"; exit 1
fi
INSIDE
step "done"

# 5. The figures, as docs/operations.md quotes them.
{
  echo "figures of deploy/build-here.sh, $(date -u +%Y-%m-%d), EXTRAS=$EXTRAS, $(nproc) cores:"
  echo "  image $IMAGE_TAG (podman image inspect): $(bytes "$size")"
  echo "  base image:                 $(bytes "$base_size")"
  echo "  virtualenv /opt/relay:      $(bytes "$venv_size")"
  echo "  exported file system:       $(bytes "$rootfs_size")"
  echo "  podman build warnings:      $warnings"
  echo "  podman build:               ${build_seconds} s"
  echo "  the whole script:           $(( $(date +%s) - started )) s"
} | tee "$WORK/figures.txt"
