#!/usr/bin/env bash
# Build the relay's image with no registry of base images, and run its file system.
#
# 1. two base images from Debian's packages (debootstrap: Python 3.11, venv, CA certificates,
#    binutils): the build stage's as debootstrap made it, the final stage's with only the
#    files Python needs to run (deploy/runtime_files.py), imported into Podman;
# 2. a wheelhouse of the package and every dependency at the versions of constraints.txt,
#    made by this machine's pip and served on loopback for the build (no index is needed);
# 3. `podman build` of the Containerfile on that base (RUN steps under chroot isolation,
#    since this sandbox cannot start containers); then a stage on the build base describes
#    the image's virtualenv, as slim_venv.py left it, in a CycloneDX SBOM (deploy/sbom.py,
#    cyclonedx-bom, which stays out of the image), and a layer adds it to the image at
#    /usr/share/runway-relay/sbom.cdx.json with $RUNWAY_RELAY_COMMIT (`receiver version`);
# 4. the image checked: its user, nothing in it that only builds or tests (pip, setuptools,
#    a compiler, headers, tests/ folders, CEL's REPL); then its file system exported and
#    run, read-only but for /data, as the image's non-root user, under chroot in a private
#    mount namespace: every shared library finds its libraries, Python finds the CA
#    bundle, `receiver --help`, `receiver version --json` (the commit), `receiver demo`,
#    then `receiver serve` until /readyz answers 200, then SIGTERM; the SBOM copied
#    beside the image ($WORK/sbom.cdx.json) and checked against its site-packages;
# 5. the figures docs/operations.md quotes ("The image"), last, and in $WORK/figures.txt: the
#    image's size as Podman counts it, its base's, the virtualenv's, the exported file
#    system's, the build's warnings (none expected) and each step's seconds.
#
# The build keeps its layers: a second run with the same sources (KEEP_BASE=1) rebuilds
# nothing, and one that changes only the final stage rebuilds only that.
#
# Not part of CI (several minutes). Run as root on Debian or Ubuntu:
#   bash deploy/build-here.sh [WORKDIR]      # default WORKDIR: /var/tmp/runway-relay-image
# Environment: EXTRAS (default: the Containerfile's `ARG EXTRAS`), SUITE (default bookworm),
# DEBIAN_MIRROR (default: the first of this machine's apt sources), KEEP_BASE=1 to reuse a
# base built before, WHEELS_PORT (default 28617, the wheelhouse's, when free).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
WORK=${1:-/var/tmp/runway-relay-image}
EXTRAS=${EXTRAS-$(sed -n 's/^ARG EXTRAS=//p' Containerfile)}
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
  # The build stage's base: with venv and binutils' strip.
  tar -C "$WORK/base" -c . | podman import --quiet --change 'CMD ["python3"]' - "$BUILD_TAG" >/dev/null
  # The final stage's: nothing in the image installs or builds, so only the files of the
  # packages Python needs to run, with sh; no package manager, shell utilities, binutils,
  # venv, documentation or locales.
  "$PYTHON" deploy/runtime_files.py "$WORK/base" >"$WORK/runtime-files.txt"
  tar -C "$WORK/base" --no-recursion -T "$WORK/runtime-files.txt" -c \
    | podman import --quiet --change 'CMD ["python3"]' - "$BASE_TAG" >/dev/null
fi
base_size=$(podman image inspect --format '{{.Size}}' "$BASE_TAG")
step "base: $(bytes "$base_size")"

# 2. The wheelhouse, served on loopback for the build's pip.
step "wheelhouse ($EXTRAS)"
rm -rf "$WORK/wheels" && mkdir -p "$WORK/wheels"
# async-timeout: redis needs it below Python 3.11.3 (Debian 12 has 3.11.2), whatever the
# Python that makes the wheelhouse.
# cyclonedx-bom: the SBOM stage's, never the image's.
"$PYTHON" -m pip wheel --quiet -c constraints.txt --wheel-dir "$WORK/wheels" \
  ".${EXTRAS:+[$EXTRAS]}" "setuptools>=68" "async-timeout>=4.0.3" cyclonedx-bom 2>&1 \
  | grep -v '^WARNING: Location' || true
[ -n "$(ls "$WORK"/wheels/runway_relay-*.whl 2>/dev/null)" ] || { echo "the wheelhouse failed" >&2; exit 1; }
# A fixed port when free: the address is a build argument, part of each layer's cache key.
free_port() { "$PYTHON" -c 'import socket, sys; s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); print(s.getsockname()[1])' "$1"; }
port=$(free_port "${WHEELS_PORT:-28617}" 2>/dev/null || free_port 0)
"$PYTHON" -m http.server --bind 127.0.0.1 --directory "$WORK/wheels" "$port" >/dev/null 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT

# 3. The image.
step "podman build"
build_started=$(date +%s)
podman build --quiet --isolation=chroot --network=host --layers --format=docker \
  --build-arg BASE_IMAGE="$BASE_TAG" --build-arg BUILD_IMAGE="$BUILD_TAG" --build-arg EXTRAS="$EXTRAS" \
  --build-arg PIP_FIND_LINKS="http://127.0.0.1:$port/" --build-arg PIP_NO_INDEX=1 \
  -t "$IMAGE_TAG" -f Containerfile . >/dev/null 2>"$WORK/build.err" || { cat "$WORK/build.err" >&2; exit 1; }
cat "$WORK/build.err" >&2

# The SBOM of the image's virtualenv, made in a stage on the build base (the same Python at
# the same path) from a context of its own, then added to the image with the commit.
step "SBOM of the image's virtualenv"
commit=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || true)
rm -rf "$WORK/sbom-context" && mkdir -p "$WORK/sbom-context"
cp pyproject.toml constraints.txt deploy/sbom.py "$WORK/sbom-context/"
cat >"$WORK/sbom-context/Containerfile" <<STAGES
FROM $BUILD_TAG AS sbom
ARG PIP_FIND_LINKS=""
ARG PIP_NO_INDEX=""
COPY --from=$IMAGE_TAG /opt/relay /opt/relay
COPY pyproject.toml constraints.txt sbom.py /src/
RUN python3 -m venv /opt/sbom \\
    && PIP_NO_CACHE_DIR=1 /opt/sbom/bin/python -m pip install --quiet --constraint /src/constraints.txt cyclonedx-bom \\
    && /opt/sbom/bin/python /src/sbom.py write /opt/relay /sbom.cdx.json --pyproject /src/pyproject.toml
FROM $IMAGE_TAG
COPY --from=sbom /sbom.cdx.json /usr/share/runway-relay/sbom.cdx.json
ENV RUNWAY_RELAY_COMMIT=$commit
STAGES
podman build --quiet --isolation=chroot --network=host --layers --format=docker \
  --build-arg PIP_FIND_LINKS="http://127.0.0.1:$port/" --build-arg PIP_NO_INDEX=1 \
  -t "$IMAGE_TAG" "$WORK/sbom-context" >/dev/null 2>"$WORK/sbom.err" || { cat "$WORK/sbom.err" >&2; exit 1; }
build_seconds=$(( $(date +%s) - build_started ))
cat "$WORK/sbom.err" >>"$WORK/build.err"
warnings=$(grep -ci 'warn' "$WORK/build.err" || true)
size=$(podman image inspect --format '{{.Size}}' "$IMAGE_TAG")
step "image $IMAGE_TAG: $(bytes "$size"), $warnings build warnings"

# 4. The image checked, then its file system run.
step "checking the image: its user, nothing that only builds or tests"
user=$(podman image inspect --format '{{.Config.User}}' "$IMAGE_TAG")
[ "$user" = 10001:10001 ] || { echo "the image runs as '$user', not 10001:10001" >&2; exit 1; }
rm -rf "$WORK/rootfs" "$WORK/data" && mkdir -p "$WORK/rootfs" "$WORK/data"
# No health check: podman would set up a systemd timer for it, which this sandbox has not.
container=$(podman create --no-healthcheck "$IMAGE_TAG")
podman export "$container" | tar -C "$WORK/rootfs" -x
podman rm "$container" >/dev/null
site=$(echo "$WORK"/rootfs/opt/relay/lib/python3.*/site-packages)
# The CEL library's REPL (typer, rich, prompt_toolkit, pygments) included: slim_venv.py
# removes it, since the relay loads the evaluator alone.
unwanted=$(cd "$WORK/rootfs" && find . \( -path './opt/relay/lib/*' \( -name 'pip' -o -name 'setuptools' \
  -o -name 'tests' -o -name '*.h' -o -name '*.c' -o -name '*.pyi' \) \) \
  -o -regex '\./opt/relay/lib/python3[^/]*/site-packages/\(typer\|rich\|prompt_toolkit\|pygments\)' \
  -o -path './usr/bin/*' \( -name 'gcc*' -o -name 'cc' -o -name 'ld' -o -name 'strip' -o -name 'apt*' \
  -o -name 'dpkg' -o -name 'perl' \) -o -path './usr/include/*' -o -path './usr/share/doc/*' | head -n 5)
[ -z "$unwanted" ] || { echo "the image holds what only builds or tests: $unwanted" >&2; exit 1; }
cp "$WORK/rootfs/usr/share/runway-relay/sbom.cdx.json" "$WORK/sbom.cdx.json"
"$PYTHON" deploy/sbom.py check "$WORK/sbom.cdx.json" "$site"
rootfs_size=$(du -s --bytes "$WORK/rootfs" | cut -f1)
venv_size=$(du -s --bytes "$WORK/rootfs/opt/relay" | cut -f1)
bytecode_size=$(find "$site" -name '*.pyc' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
echo "installed size: $(bytes "$rootfs_size"), of it the virtualenv $(bytes "$venv_size")" \
  "($(bytes "$bytecode_size") of bytecode)"
chown 10001:10001 "$WORK/data"
mapfile -t image_env < <(podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$IMAGE_TAG" | sed '/^$/d')
serve_port=$(free_port 0)
secret() { "$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(24))'; }

step "inside the image's file system (read-only): libraries, CA bundle, --help, demo, serve"
unshare --mount --propagation private env \
  ROOTFS="$WORK/rootfs" DATA="$WORK/data" PORT_TO_USE="$serve_port" CHROOT="$(command -v chroot)" \
  ADMIN="$(secret)" SIGNING="$(secret)" PYTHON="$PYTHON" COMMIT="$commit" \
  bash -s -- "${image_env[@]}" <<'INSIDE'
set -euo pipefail
image_env=("$@")
mount --bind "$ROOTFS" "$ROOTFS"
mount --bind /proc "$ROOTFS/proc"
mount --rbind /dev "$ROOTFS/dev"
mount --bind "$DATA" "$ROOTFS/data"
mount -t tmpfs -o size=64m tmpfs "$ROOTFS/tmp"
mount -o remount,bind,ro "$ROOTFS"   # the root file system read-only, as in production
# run [NAME=value...] COMMAND...: in the image, as its user, with its environment and these
# variables only. The image has no `env` (nor coreutils): the host's sets the environment.
run() {
  local vars=()
  while [ $# -gt 0 ] && [[ $1 == *=* ]]; do vars+=("$1"); shift; done
  env -i "${image_env[@]}" HOME=/data TMPDIR=/tmp "${vars[@]}" \
    "$CHROOT" --userspec=10001:10001 "$ROOTFS" "$@"
}
# Every shared library of the image finds those it needs (the base keeps only some).
loader=$(cd "$ROOTFS" && ls usr/lib64/ld-linux-*.so.* | head -n 1)
missing=$(cd "$ROOTFS" && find opt/relay usr/lib usr/bin -type f -name '*.so*' -o -type f -path 'usr/bin/python3*' \
  | while read -r elf; do
      listed=$(run "/$loader" --list "/$elf" 2>&1) && ! grep -q 'not found' <<<"$listed" \
        || echo "/$elf: $(grep -m 1 -E 'not found|error' <<<"$listed")"
    done)
[ -z "$missing" ] || { echo "libraries not found: $missing" >&2; exit 1; }
echo "shared libraries: each finds its own"
run python3 -c "import ssl, sys; sys.exit(ssl.create_default_context().cert_store_stats()['x509_ca'] == 0)"
echo "CA bundle: read by Python's ssl"
run receiver --help >/dev/null
echo "receiver --help: ok"
version=$(run receiver version --json)
[ -z "$COMMIT" ] || grep -q "\"commit\":\"$COMMIT\"" <<<"$version" || { echo "receiver version: $version" >&2; exit 1; }
echo "receiver version --json: $version"
run sh -c 'cd /data && receiver demo' | tail -n 3
# chroot itself in the background (not a function's subshell): the SIGTERM below reaches
# the relay, which chroot and sh each exec into.
env -i "${image_env[@]}" HOME=/data TMPDIR=/tmp PORT="$PORT_TO_USE" \
  COMETAPI_KEY=sk-not-used-here RECEIVER_ADMIN_TOKEN="$ADMIN" RECEIVER_SECRET="$SIGNING" \
  RECEIVER__SERVER__DRAIN_SECONDS=1 "$CHROOT" --userspec=10001:10001 "$ROOTFS" \
  sh -c 'cd /data && exec receiver serve' >"$DATA/serve.log" 2>&1 &
serving=$!
for _ in $(seq 1 300); do
  if "$PYTHON" -c "import sys, urllib.request as r; sys.exit(r.urlopen('http://127.0.0.1:$PORT_TO_USE/readyz', timeout=2).status != 200)" 2>/dev/null; then
    echo "serve: /readyz answered 200"; break
  fi
  kill -0 "$serving" 2>/dev/null || { cat "$DATA/serve.log"; exit 1; }
  sleep 0.2
done
# The image's own health check, as the container engine would run it.
run PORT="$PORT_TO_USE" python3 -c "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('PORT', '8080'), timeout=4)"
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
  echo "  virtualenv /opt/relay:      $(bytes "$venv_size"), $(bytes "$bytecode_size") of it bytecode"
  echo "  exported file system:       $(bytes "$rootfs_size")"
  echo "  SBOM, its components:       $("$PYTHON" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["components"]))' "$WORK/sbom.cdx.json")"
  echo "  podman build warnings:      $warnings"
  echo "  podman build:               ${build_seconds} s"
  echo "  the whole script:           $(( $(date +%s) - started )) s"
} | tee "$WORK/figures.txt"
