#!/usr/bin/env bash
# Real containers on a machine that has none (CI: `bash scripts/containers.sh`).
#
#   bash scripts/containers.sh                the preparation below, then the container checks
#   bash scripts/containers.sh CMD [ARG...]   the preparation, then CMD instead of the checks,
#                                             e.g. `bash scripts/containers.sh npm test`
#                                             (then the whole fast suite through testcontainers)
#
# Preparation:
#   1. Debian's docker.io and docker-compose (and mmdebstrap when a stand-in is to be built),
#      installed when missing. Needs root and apt.
#   2. A Docker engine: the one that answers, or a dockerd started here and stopped on exit,
#      with every container it ran.
#   3. The base images the Dockerfile and docker-compose.yml name. Present or pullable: used as
#      they are. Otherwise (no registry, as on this project's machines) a STAND-IN is built here
#      from Debian's packages (scripts/stand-ins/) and tagged with the real name, so both files
#      build and run unchanged. Stand-ins are test infrastructure: labelled pushloss.stand-in,
#      never pushed. They stay in the engine between runs and are rebuilt only when their inputs
#      change (label pushloss.stand-in.key); `docker rmi` them to force a rebuild.
# Checks:
#   4. `docker build` of the Dockerfile (--network host: all traffic stays on this machine).
#   5. test/system/container.image.test.ts: the image against the local PostgreSQL and the simulator;
#      test/system/container.compose.test.ts: docker-compose.yml up with the PostgreSQL stand-in.
#   6. The fast suite's tests that need a database (the files that call createTestDatabase or
#      read the harness's database plan) through testcontainers (TEST_DB=postgres on the
#      PostgreSQL stand-in): the harness's container path, not the whole suite a third time (CI
#      runs both suites on the local server already); and the harness falling back to PGlite
#      with a one-line reason when its container cannot start.
#
# Environment: TEST_DATABASE_URL (server for the image check, default
# postgres://postgres@127.0.0.1:5432/test), PUSHLOSS_IMAGE (tag to build, default pushloss:check).
set -euo pipefail
cd "$(dirname "$0")/.."
STARTED=$(date +%s)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pushloss-containers.XXXXXX")
DOCKERD_PID=""

step() { printf '\n== containers: %s  (at %s s)\n' "$*" "$(($(date +%s) - STARTED))"; }
die() { printf 'containers: FAILED: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

cleanup() {
  local status=$?
  if [ -n "$DOCKERD_PID" ]; then
    echo "containers: stopping the dockerd started here (pid $DOCKERD_PID)"
    kill -TERM "$DOCKERD_PID" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$DOCKERD_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
  if [ "$status" != 0 ]; then echo "containers: FAILED (exit $status) after $(($(date +%s) - STARTED)) s" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

apt_install() {
  echo "containers: apt-get install $*"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "$@" >"$WORK/apt.log" 2>&1; then
    apt-get update -qq >>"$WORK/apt.log" 2>&1
    apt-get install -y -qq --no-install-recommends "$@" >>"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log"; die "apt-get install $*"; }
  fi
}

# --- 1, 2. tools and engine --------------------------------------------------------------------
step "Docker engine"
missing=()
if ! have docker || ! have dockerd; then missing+=(docker.io); fi
have docker-compose || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi

if ! docker version >/dev/null 2>&1; then
  # A pid file left by a dockerd that died would stop a new one from starting.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then rm -f /var/run/docker.pid; fi
  dockerd >"$WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 1 60); do docker version >/dev/null 2>&1 && break; kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
  docker version >/dev/null 2>&1 || { tail -n 20 "$WORK/dockerd.log"; die "dockerd did not start"; }
  echo "containers: started dockerd (pid $DOCKERD_PID), stopped again on exit"
fi
echo "containers: engine $(docker version -f '{{.Server.Version}}'), client $(docker version -f '{{.Client.Version}}'), $(docker-compose version --short 2>/dev/null || docker compose version --short) compose"

# --- 3. base images ----------------------------------------------------------------------------
step "base images"
NODE_TAG=$(sed -nE 's/^ARG NODE_IMAGE=(.+)$/\1/p' Dockerfile)
POSTGRES_TAG=$(sed -nE 's/^ +image: (postgres:.+)$/\1/p' docker-compose.yml)
if [ -z "$NODE_TAG" ] || [ -z "$POSTGRES_TAG" ]; then die "no ARG NODE_IMAGE in the Dockerfile or no postgres image in docker-compose.yml"; fi
DEBIAN_TAG=pushloss-stand-in/debian:bookworm
STAND_IN_NOTE="test infrastructure built by scripts/containers.sh, never ship"

stand_in_key() { docker image inspect -f '{{index .Config.Labels "pushloss.stand-in.key"}}' "$1" 2>/dev/null || true; }
digest() { sha256sum | cut -c1-16; }

# True when TAG is usable as itself: a real image that is here, or one pulled now. A stand-in
# under the tag is replaced by the real image whenever a pull works.
real_image() {
  local tag=$1
  if docker image inspect "$tag" >/dev/null 2>&1 && [ -z "$(stand_in_key "$tag")" ]; then
    echo "containers: $tag: the real image"
    return 0
  fi
  if timeout 300 docker pull -q "$tag" >/dev/null 2>"$WORK/pull.log"; then
    echo "containers: $tag: the real image, pulled"
    return 0
  fi
  echo "containers: $tag: not pullable here ($(tail -n 1 "$WORK/pull.log"))"
  return 1
}

# The Debian bookworm root file system the stand-ins start from, from this machine's apt sources,
# made like the official slim images: merged /usr without the usrmerge package (and the perl it
# pulls in), no documentation, manual pages or translations (also for packages installed later).
MMDEBSTRAP=(mmdebstrap --quiet --variant=minbase --include=ca-certificates
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias'
  bookworm)
debian_base() {
  local key
  key=$(printf '%s\n' "${MMDEBSTRAP[@]}" | digest)
  [ "$(stand_in_key "$DEBIAN_TAG")" = "$key" ] && return 0
  have mmdebstrap || apt_install mmdebstrap
  echo "containers: building $DEBIAN_TAG with mmdebstrap"
  local previous
  previous=$(docker image inspect -f '{{.Id}}' "$DEBIAN_TAG" 2>/dev/null || true)
  "${MMDEBSTRAP[@]}" "$WORK/rootfs.tar" >"$WORK/mmdebstrap.log" 2>&1 || { tail -n 40 "$WORK/mmdebstrap.log"; die "mmdebstrap failed"; }
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --change "LABEL pushloss.stand-in=\"Debian bookworm minbase: $STAND_IN_NOTE\" pushloss.stand-in.key=$key" \
    "$WORK/rootfs.tar" "$DEBIAN_TAG" >/dev/null
  rm -f "$WORK/rootfs.tar"
  if [ -n "$previous" ]; then docker rmi "$previous" >/dev/null 2>&1 || true; fi
}

# build_stand_in TAG NAME KEY CONTEXT: scripts/stand-ins/NAME.Dockerfile on the Debian base.
build_stand_in() {
  local tag=$1 name=$2 key=$3 context=$4
  if [ "$(stand_in_key "$tag")" = "$key" ]; then
    echo "containers: $tag: STAND-IN, cached ($name, key $key)"
    return 0
  fi
  echo "containers: $tag: building the STAND-IN scripts/stand-ins/$name.Dockerfile"
  local previous
  previous=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
  docker build --quiet --network host --build-arg "BASE=$DEBIAN_TAG" \
    --label "pushloss.stand-in=$name: $STAND_IN_NOTE" --label "pushloss.stand-in.key=$key" \
    -f "scripts/stand-ins/$name.Dockerfile" -t "$tag" "$context" >"$WORK/$name.log" 2>&1 ||
    { tail -n 40 "$WORK/$name.log"; die "building the $name stand-in failed"; }
  # The stand-in it replaces, unless images built on it still need it.
  if [ -n "$previous" ]; then docker rmi "$previous" >/dev/null 2>&1 || true; fi
}

if ! real_image "$NODE_TAG"; then
  # The stand-in runs the Node the lockfile pins, so it must be the version the tag names.
  node_bin=$(realpath node_modules/.bin/node 2>/dev/null) || die "node_modules/.bin/node is missing: run npm ci first"
  node_version=$("$node_bin" --version)
  [[ "$NODE_TAG" == "node:${node_version#v}-"* ]] ||
    die "the Dockerfile's $NODE_TAG is not the lockfile's Node $node_version: tests and image would run different Nodes"
  debian_base
  context="$WORK/node-context"
  mkdir -p "$context/npm"
  cp "$node_bin" "$context/node"
  cp /etc/ssl/certs/ca-certificates.crt "$context/"
  key=$({
    cat scripts/stand-ins/node.Dockerfile
    echo "$node_version npm@11 $(stand_in_key "$DEBIAN_TAG")"
    cat "$context/ca-certificates.crt"
  } | digest)
  if [ "$(stand_in_key "$NODE_TAG")" != "$key" ]; then
    (cd "$WORK" && npm pack --silent npm@11 >/dev/null)
    tar -xzf "$WORK"/npm-*.tgz -C "$context/npm" --strip-components=1
  fi
  build_stand_in "$NODE_TAG" node "$key" "$context"
fi

if ! real_image "$POSTGRES_TAG"; then
  debian_base
  key=$(cat scripts/stand-ins/postgres.Dockerfile scripts/stand-ins/postgres-entrypoint.sh <(stand_in_key "$DEBIAN_TAG") | digest)
  build_stand_in "$POSTGRES_TAG" postgres "$key" scripts/stand-ins
fi

# What testcontainers needs here: the PostgreSQL base image; no Ryuk, whose image is not to be
# had without a registry (the harness stops its container itself); connections over loopback
# (where /.dockerenv exists, it would use the bridge's gateway address).
export TEST_POSTGRES_IMAGE="$POSTGRES_TAG"
export TESTCONTAINERS_RYUK_DISABLED="${TESTCONTAINERS_RYUK_DISABLED:-true}"
export TESTCONTAINERS_HOST_OVERRIDE="${TESTCONTAINERS_HOST_OVERRIDE:-127.0.0.1}"

if [ "$#" -gt 0 ]; then
  step "$*"
  "$@"
  exit
fi

# --- 4. the image ------------------------------------------------------------------------------
IMAGE=${PUSHLOSS_IMAGE:-pushloss:check}
step "docker build -t $IMAGE ."
build_started=$(date +%s)
docker build --network host -t "$IMAGE" . >"$WORK/build.log" 2>&1 || { tail -n 40 "$WORK/build.log"; die "docker build failed"; }
BUILD_SECONDS=$(($(date +%s) - build_started))
IMAGE_MB=$(($(docker image inspect -f '{{.Size}}' "$IMAGE") / 1000000))
echo "containers: built $IMAGE in $BUILD_SECONDS s ($(grep -c '^ ---> Using cache' "$WORK/build.log" || true) steps from cache), $IMAGE_MB MB"
if [ -n "$(stand_in_key "$IMAGE")" ]; then echo "containers: $IMAGE is built on a STAND-IN base: for these checks only"; fi

# --- 5. the image and compose, for real ---------------------------------------------------------
step "image and compose checks"
PUSHLOSS_IMAGE="$IMAGE" TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}" \
  npx vitest run --no-file-parallelism test/system/container.image.test.ts test/system/container.compose.test.ts

# --- 6. testcontainers ------------------------------------------------------------------------
step "the database tests through testcontainers ($POSTGRES_TAG)"
mapfile -t database_tests < <(grep -rl --include='*.test.ts' -e 'createTestDatabase' -e "inject('pushlossTestDb')" test)
[ "${#database_tests[@]}" -gt 0 ] || die "no test file uses the test database"
echo "containers: ${#database_tests[@]} files: ${database_tests[*]}"
# TEST_DB=postgres: the container is required, no quiet fallback to PGlite. --project fast: the
# system tests among them (processes, faults, soak; alerting, the month of passes and migrate
# down, which run on PGlite too) ran on the local server already, whose PostgreSQL 15 the
# stand-in also is.
# Two files at a time, as npm test runs them (vitest.config.ts).
env -u TEST_DATABASE_URL TEST_DB=postgres npx vitest run --project fast "${database_tests[@]}"

step "a container that cannot start"
absent=pushloss-stand-in/absent:never-built
env -u TEST_DATABASE_URL -u TEST_DB TEST_POSTGRES_IMAGE="$absent" npx vitest run test/tencent/usersig.test.ts >"$WORK/fallback.log" 2>&1 || { cat "$WORK/fallback.log"; die "the test run failed instead of falling back"; }
grep -F "did not start:" "$WORK/fallback.log" | grep -F "$absent" ||
  { cat "$WORK/fallback.log"; die "no one-line reason naming $absent"; }
grep -F 'database: in-memory PGlite' "$WORK/fallback.log" || { cat "$WORK/fallback.log"; die "no fallback to PGlite"; }

step "done"
echo "containers: OK in $(($(date +%s) - STARTED)) s (image build $BUILD_SECONDS s, $IMAGE_MB MB)"
