#!/usr/bin/env bash
# Validates the container setup without a Docker engine (CI: `bash scripts/validate-container.sh`).
#
#   1. docker-compose.yml: dclint (schema + rules), then a real Compose implementation's
#      `config` (the docker compose plugin if present, else Debian's docker-compose v1) on a copy
#      with a .env made from .env.example, plus the required-password checks.
#   2. Dockerfile: dockerfile-utils (the VS Code Docker language server's validator) and
#      dockerlinter (hadolint-style rules, ShellCheck on RUN); ShellCheck on the shell scripts.
#   3. Build-and-start emulation (scripts/container/emulate.ts reads the Dockerfile, so this
#      cannot drift from it): the build context as .dockerignore filters it, the build stage's
#      npm ci + npm run build, the runtime stage's npm ci --omit=dev with dist/ copied over; then
#      ENTRYPOINT + CMD with the image's ENV, as its USER (uid 1000) and as PID 1 of a new PID
#      namespace when run as root (its files root-owned: only /data and /tmp writable, as with
#      compose's read_only), against the simulator started from the same folder as
#      `docker run IMAGE simulator` would, on the embedded database (default) or DATABASE_URL.
#      The image's own HEALTHCHECK command must pass, /metrics must count calls, SIGTERM must
#      end it with exit code 0 within 10 s, and `status` must then see the collected buckets.
#
# Environment: DATABASE_URL (use that PostgreSQL server instead of the embedded database; its
# database should be empty or a pushloss one), HEALTHY_TIMEOUT (seconds, default 90),
# KEEP_WORKDIR=1 (keep the temp folder), VALIDATE_INSTALL=0 (never apt-get install the
# Debian tools: tini, shellcheck, docker-compose; by default they are installed when missing
# and this runs as root). Needs the npm registry (or a warm npm cache) and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STARTED=$(date +%s)

DCLINT_VERSION=3.1.0
DOCKERFILE_UTILS_VERSION=0.16.3
DOCKERLINTER_VERSION=2.0.0
HEALTHY_TIMEOUT=${HEALTHY_TIMEOUT:-90}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pushloss-container.XXXXXX")
# The daemon runs as uid 1000 and must reach its files under here.
chmod 755 "$WORK"
PIDS=()
CHECKED=()
SKIPPED=()
DROP_ROLE=""

# The container's PID 1 for a process started here: with --pid-namespace the started process is
# unshare, which ignores SIGTERM while it waits, and tini is its child; otherwise tini itself.
pid1() { local child; child=$(pgrep -P "$1" -x tini 2>/dev/null | head -1 || true); echo "${child:-$1}"; }

cleanup() {
  local status=$?
  for pid in "${PIDS[@]}"; do kill -TERM "$(pid1 "$pid")" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  if [ -n "$DROP_ROLE" ]; then
    psql "$DATABASE_URL" -q -v ON_ERROR_STOP=0 -c "drop owned by \"$DROP_ROLE\"" -c "drop role if exists \"$DROP_ROLE\"" >/dev/null 2>&1 || true
  fi
  if [ "${KEEP_WORKDIR:-0}" = 1 ]; then
    echo "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  if [ "$status" != 0 ]; then echo "validate-container: FAILED (exit $status) after $(($(date +%s) - STARTED)) s" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s  (at %s s)\n' "$*" "$(($(date +%s) - STARTED))"; }
ok() { printf '  ok: %s\n' "$*"; CHECKED+=("$*"); }
skip() { printf '  SKIPPED: %s\n' "$*"; SKIPPED+=("$*"); }
die() { printf '  FAILED: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
emulate() { node "$ROOT/scripts/container/emulate.ts" "$@"; }

# --- 0. tools --------------------------------------------------------------------------------
step "tools"
missing=()
for package in tini shellcheck docker-compose; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ] && [ "${VALIDATE_INSTALL:-1}" != 0 ] && [ "$(id -u)" = 0 ] && have apt-get; then
  echo "  apt-get install ${missing[*]} (Debian packages this validation uses)"
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$WORK/apt.log" 2>&1; then
    apt-get update -qq >>"$WORK/apt.log" 2>&1
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log"; die "apt-get install ${missing[*]}"; }
  fi
fi

# The image's Node: the version in the Dockerfile's FROM, from the npm registry's node-linux-*
# package (the official build, as in the node image). npm itself is this host's.
NODE_VERSION=$(grep -oE 'node:[0-9]+\.[0-9]+\.[0-9]+' Dockerfile | head -1 | cut -d: -f2)
[ -n "$NODE_VERSION" ] || die "no node:X.Y.Z image in the Dockerfile"
case "$(uname -m)" in x86_64) NODE_ARCH=x64 ;; aarch64) NODE_ARCH=arm64 ;; *) die "unsupported machine $(uname -m)" ;; esac
npm install --prefix "$WORK/toolchain" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "node-linux-$NODE_ARCH@$NODE_VERSION" >/dev/null
export PATH="$WORK/toolchain/node_modules/node-linux-$NODE_ARCH/bin:$PATH"
[ "$(node --version)" = "v$NODE_VERSION" ] || die "node is $(node --version), expected v$NODE_VERSION"
LOCKED_NODE=$(node -p 'require("./package-lock.json").packages["node_modules/node"]?.version ?? ""')
[ "$LOCKED_NODE" = "$NODE_VERSION" ] || die "the Dockerfile's Node $NODE_VERSION is not the lockfile's node devDependency ($LOCKED_NODE): tests and image would run different Nodes"
ok "Node $NODE_VERSION (the Dockerfile's FROM, = the lockfile's node devDependency), npm $(npm --version)"

# --- 1. docker-compose.yml -------------------------------------------------------------------
step "docker-compose.yml"
npx --yes "dclint@$DCLINT_VERSION" --max-warnings 0 docker-compose.yml || die "dclint $DCLINT_VERSION found problems in docker-compose.yml"
ok "dclint $DCLINT_VERSION: compose-spec schema and rules, 0 errors, 0 warnings"

# The project as an operator lays it out: .env from .env.example plus the compose passwords.
PROJECT="$WORK/compose-project"
mkdir -p "$PROJECT"
cp docker-compose.yml Dockerfile .dockerignore "$PROJECT"/
if [ -d grafana ]; then cp -r grafana "$PROJECT"/; fi
{
  grep -vE '^(POSTGRES_PASSWORD|PUSHLOSS_READER_PASSWORD|GRAFANA_ADMIN_PASSWORD|TIM_SDKAPPID|TIM_SECRET_KEY)=' .env.example
  echo "TIM_SDKAPPID=1400000001"
  echo "TIM_SECRET_KEY=validate-only-not-a-secret"
  echo "POSTGRES_PASSWORD=pg0123456789abcdef"
  echo "PUSHLOSS_READER_PASSWORD=reader0123456789"
  echo "GRAFANA_ADMIN_PASSWORD=admin0123456789"
} >"$PROJECT/.env"
compose_config() { # runs `config` of whichever Compose is here; prints the resolved file
  local dir=$1
  if docker compose version >/dev/null 2>&1; then
    (cd "$dir" && docker compose config)
  else
    # v1 does not know the top-level `name:` (Compose spec, v2); everything else it parses.
    grep -v '^name: ' "$dir/docker-compose.yml" >"$dir/docker-compose.v1.yml"
    (cd "$dir" && docker-compose -f docker-compose.v1.yml config)
  fi
}
if docker compose version >/dev/null 2>&1 || have docker-compose; then
  if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose $(docker compose version --short)"; else COMPOSE="docker-compose $(docker-compose version --short) (v1, without the top-level name)"; fi
  compose_config "$PROJECT" >"$WORK/compose.resolved.yml" 2>"$WORK/compose.err" || { cat "$WORK/compose.err"; die "$COMPOSE config failed"; }
  grep -q 'DATABASE_URL: postgres://pushloss:pg0123456789abcdef@postgres:5432/pushloss' "$WORK/compose.resolved.yml" || die "resolved DATABASE_URL is not the postgres service with POSTGRES_PASSWORD"
  grep -q 'condition: service_healthy' "$WORK/compose.resolved.yml" || die "no service_healthy dependency"
  ok "$COMPOSE config: parses and resolves with a .env made from .env.example (DATABASE_URL -> postgres service)"
  for variable in POSTGRES_PASSWORD PUSHLOSS_READER_PASSWORD GRAFANA_ADMIN_PASSWORD; do
    mkdir -p "$WORK/compose-missing"
    cp -r "$PROJECT"/. "$WORK/compose-missing"/
    grep -v "^$variable=" "$PROJECT/.env" >"$WORK/compose-missing/.env"
    if compose_config "$WORK/compose-missing" >/dev/null 2>"$WORK/compose-missing.err"; then die "$COMPOSE config succeeded without $variable"; fi
    grep -q "$variable" "$WORK/compose-missing.err" || { cat "$WORK/compose-missing.err"; die "the error without $variable does not name it"; }
  done
  ok "$COMPOSE config refuses to start without POSTGRES_PASSWORD, PUSHLOSS_READER_PASSWORD or GRAFANA_ADMIN_PASSWORD, naming it"
else
  skip "compose config: neither the docker compose plugin nor docker-compose is installed"
fi

# --- 2. Dockerfile ---------------------------------------------------------------------------
step "Dockerfile"
npx --yes "dockerfile-utils@$DOCKERFILE_UTILS_VERSION" lint Dockerfile || die "dockerfile-utils $DOCKERFILE_UTILS_VERSION found problems"
ok "dockerfile-utils $DOCKERFILE_UTILS_VERSION lint: instruction syntax and arguments, no problems"
# --ignore-scripts: its install script downloads ShellCheck from GitHub; Debian's is used instead.
npm install --prefix "$WORK/tools" --no-save --no-package-lock --no-audit --no-fund --ignore-scripts --loglevel=error "dockerlinter@$DOCKERLINTER_VERSION" >/dev/null
if have shellcheck; then SHELLCHECK_MODE="sh"; SHELLCHECK_NOTE="with ShellCheck $(shellcheck --version | sed -n 's/^version: //p') on RUN"; else SHELLCHECK_MODE=none; SHELLCHECK_NOTE="WITHOUT ShellCheck (not installed)"; fi
(cd "$WORK" && node "$WORK/tools/node_modules/dockerlinter/bin/dockerfilelinter.js" -f "$ROOT/Dockerfile" -s "$SHELLCHECK_MODE" -e info) || die "dockerlinter $DOCKERLINTER_VERSION found problems"
ok "dockerlinter $DOCKERLINTER_VERSION: hadolint-style rules $SHELLCHECK_NOTE, no findings at any level"
if have shellcheck; then
  shellcheck scripts/*.sh grafana/init/*.sh || die "shellcheck found problems"
  ok "shellcheck: scripts/*.sh grafana/init/*.sh"
else
  skip "shellcheck of the shell scripts: shellcheck is not installed"
fi

# --- 3. build emulation ----------------------------------------------------------------------
step "build (emulated from the Dockerfile)"
IMAGE="$WORK/image"
emulate build --context "$ROOT" --out "$IMAGE"
APP=$(emulate get --image "$IMAGE" workdirHost)
IMAGE_ROOT=$(emulate get --image "$IMAGE" rootHost)
[ -f "$APP/dist/src/cli/main.js" ] || die "no dist/src/cli/main.js in the runtime stage"
ls "$APP"/dist/migrations/*.js >/dev/null 2>&1 || die "no compiled migrations in the runtime stage"
if [ -e "$APP/src" ] || [ -e "$APP/test" ]; then die "TypeScript sources or tests reached the runtime stage"; fi
for dev in $(node -p 'Object.keys(require("./package.json").devDependencies).join(" ")'); do
  [ ! -e "$APP/node_modules/$dev" ] || die "devDependency $dev is in the runtime stage"
done
# The build context and the final image (the build stage's node_modules have test keys of ssh2).
if find "$IMAGE/context" "$IMAGE_ROOT" \( -name '.env' -o -name '.env.*' -o -name '*.pem' -o -name '*.key' \) -print | grep .; then
  die "a secret-looking file reached the build context or the final image"
fi
ok "runtime stage: dist/src + dist/migrations + production node_modules only (no devDependencies, sources, tests or .env)"

# --- 4. start emulation ----------------------------------------------------------------------
step "start (ENTRYPOINT + CMD as the image would run them)"
WRAP=()
HEALTH_WRAP=()
if [ "$(id -u)" = 0 ]; then
  WRAP+=(--as-user)
  HEALTH_WRAP+=(--as-user)
  if unshare --pid --fork --mount-proc --kill-child true 2>/dev/null; then WRAP+=(--pid-namespace); else skip "PID 1: unshare --pid is not allowed here, tini runs as an ordinary process"; fi
else
  skip "USER node and PID 1: not root, so the processes run as $(id -un) and tini is not PID 1"
fi
SIM_PORT=$(free_port)
HTTP_PORT=$(free_port)
RUN_ENV=(--env "TIM_SDKAPPID=1400000001" --env "TIM_SECRET_KEY=$(node -e 'console.log(require("crypto").randomBytes(16).toString("hex"))')"
  --env "TIM_BASE_URL=http://127.0.0.1:$SIM_PORT" --env "HTTP_PORT=$HTTP_PORT")
if [ -n "${DATABASE_URL:-}" ]; then
  RUN_ENV+=(--env "DATABASE_URL=$DATABASE_URL")
  DB_NOTE="PostgreSQL at DATABASE_URL"
else
  DB_NOTE="the embedded database in PUSHLOSS_DATA_DIR (/data -> $IMAGE_ROOT/data)"
fi

# Like the postgres container's first start: grafana/init runs before pushloss ever migrated.
if [ -n "${DATABASE_URL:-}" ] && have psql && ls grafana/init/*.sh >/dev/null 2>&1; then
  DROP_ROLE="pushloss_grafana_validate_$$"
  for script in grafana/init/*.sh; do
    PGHOST=$(node -e 'const u=new URL(process.argv[1]);console.log(u.hostname)' "$DATABASE_URL") \
      PGPORT=$(node -e 'const u=new URL(process.argv[1]);console.log(u.port||5432)' "$DATABASE_URL") \
      PGPASSWORD=$(node -e 'const u=new URL(process.argv[1]);console.log(decodeURIComponent(u.password))' "$DATABASE_URL") \
      POSTGRES_USER=$(node -e 'const u=new URL(process.argv[1]);console.log(decodeURIComponent(u.username)||"postgres")' "$DATABASE_URL") \
      POSTGRES_DB=$(node -e 'const u=new URL(process.argv[1]);console.log(u.pathname.slice(1))' "$DATABASE_URL") \
      PUSHLOSS_READER_PASSWORD=validate-reader PUSHLOSS_GRAFANA_USER="$DROP_ROLE" bash "$script" >"$WORK/grafana-init.log" 2>&1 ||
      { cat "$WORK/grafana-init.log"; die "$script failed"; }
  done
  ok "grafana/init ran before any migration (login $DROP_ROLE, dropped at the end)"
fi

mapfile -d '' -t SIM_CMD < <(emulate argv --image "$IMAGE" --path-prefix "$(dirname "$(command -v node)")" "${WRAP[@]}" "${RUN_ENV[@]}" -- simulator --port "$SIM_PORT")
"${SIM_CMD[@]}" >"$WORK/simulator.log" 2>&1 &
SIM_PID=$!
PIDS+=("$SIM_PID")
for _ in $(seq 1 150); do grep -q 'simulator listening' "$WORK/simulator.log" && break; kill -0 "$SIM_PID" 2>/dev/null || break; sleep 0.2; done
grep -q 'simulator listening' "$WORK/simulator.log" || { cat "$WORK/simulator.log"; die "the simulator did not start"; }
ok "simulator started as \`docker run IMAGE simulator --port $SIM_PORT\`"

mapfile -d '' -t DAEMON_CMD < <(emulate argv --image "$IMAGE" --path-prefix "$(dirname "$(command -v node)")" "${WRAP[@]}" "${RUN_ENV[@]}")
mapfile -d '' -t HEALTH_CMD < <(emulate argv --image "$IMAGE" --path-prefix "$(dirname "$(command -v node)")" --healthcheck "${HEALTH_WRAP[@]}" "${RUN_ENV[@]}")
printf '  daemon command line:'; printf ' %q' "${DAEMON_CMD[@]}" | sed -E 's/TIM_SECRET_KEY=[^ ]+/TIM_SECRET_KEY=***/; s#(DATABASE_URL=[a-z]+://[^:]*:)[^@]*@#\1***@#'; echo
"${DAEMON_CMD[@]}" >"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
DAEMON_STARTED=$(date +%s)
PIDS+=("$DAEMON_PID")
daemon_log() { echo "--- daemon log (last 40 lines)"; tail -n 40 "$WORK/daemon.log"; }

healthy=0
for _ in $(seq 1 "$HEALTHY_TIMEOUT"); do
  kill -0 "$DAEMON_PID" 2>/dev/null || { daemon_log; die "the daemon exited before it was healthy"; }
  if "${HEALTH_CMD[@]}" >/dev/null 2>&1; then healthy=1; break; fi
  sleep 1
done
[ "$healthy" = 1 ] || { daemon_log; die "the image's HEALTHCHECK did not pass within $HEALTHY_TIMEOUT s"; }
ok "the image's HEALTHCHECK command passes $(($(date +%s) - DAEMON_STARTED)) s after the daemon's start (on $DB_NOTE)"
BODY=$(node -e 'fetch(process.argv[1]).then(async r=>{console.log(r.status+" "+(await r.text()).trim())})' "http://127.0.0.1:$HTTP_PORT/healthz")
[ "$BODY" = "200 ok" ] || die "/healthz answered: $BODY"
ok "/healthz: 200 ok"

calls=""
for _ in $(seq 1 60); do
  calls=$(node -e 'fetch(process.argv[1]).then(r=>r.text()).then(t=>console.log(t.split("\n").filter(l=>/^pushloss_calls_total\{/.test(l)&&!/ 0$/.test(l)).join("; ")))' "http://127.0.0.1:$HTTP_PORT/metrics")
  [ -n "$calls" ] && break
  sleep 1
done
[ -n "$calls" ] || { daemon_log; die "/metrics never counted a call in pushloss_calls_total"; }
ok "/metrics: $calls"
grep -q 'database schema migrated' "$WORK/daemon.log" || { daemon_log; die "no 'database schema migrated' line: did MIGRATE_ON_START run?"; }
ok "migrations ran at start-up (MIGRATE_ON_START=true from the image's ENV)"
if [ -z "${DATABASE_URL:-}" ]; then
  if [ ! -f "$IMAGE_ROOT/data/pushloss.lock" ] || [ ! -d "$IMAGE_ROOT/data/pgdata" ]; then die "the embedded database is not in PUSHLOSS_DATA_DIR=/data"; fi
  ok "embedded database and its lock live in the /data volume"
fi
if [ -n "$DROP_ROLE" ]; then
  psql "$DATABASE_URL" -qtA -v ON_ERROR_STOP=1 -c "set role \"$DROP_ROLE\"" -c "select count(*) >= 0 from push_loss_daily" >/dev/null ||
    die "the Grafana login cannot read push_loss_daily after the migrations"
  if psql "$DATABASE_URL" -qtA -v ON_ERROR_STOP=1 -c "set role \"$DROP_ROLE\"" -c "select 1 from tim_call limit 1" >/dev/null 2>&1; then
    die "the Grafana login can read the raw archive tim_call"
  fi
  ok "the Grafana login made by grafana/init reads the BI views (push_loss_daily) and not the raw archive (tim_call)"
fi

# SIGTERM to PID 1, as `docker stop` sends it; docker stop would SIGKILL after 10 s.
PID1=$(pid1 "$DAEMON_PID")
[ "$(cat "/proc/$PID1/comm")" = tini ] || die "PID 1 is $(cat "/proc/$PID1/comm"), not tini"
if [[ " ${WRAP[*]} " == *" --pid-namespace "* ]]; then
  [ "$(awk '/^NSpid:/ {print $NF}' "/proc/$PID1/status")" = 1 ] || die "tini is not PID 1 of its PID namespace"
fi
STOP_AT=$(date +%s%N)
kill -TERM "$PID1"
for _ in $(seq 1 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$DAEMON_PID" 2>/dev/null && { daemon_log; die "still running 10 s after SIGTERM (docker stop would SIGKILL it)"; }
set +e
wait "$DAEMON_PID"
EXIT=$?
set -e
[ "$EXIT" = 0 ] || { daemon_log; die "exit code $EXIT after SIGTERM"; }
ok "SIGTERM to PID 1 (tini) -> daemon exit code 0 in $((($(date +%s%N) - STOP_AT) / 1000000)) ms"
if "${HEALTH_CMD[@]}" >/dev/null 2>&1; then die "the HEALTHCHECK command still passes with the daemon stopped"; fi
ok "the HEALTHCHECK command fails once the daemon is gone"
if [ -z "${DATABASE_URL:-}" ]; then
  [ ! -e "$IMAGE_ROOT/data/pushloss.lock" ] || die "the data directory lock was left behind"
fi

mapfile -d '' -t STATUS_CMD < <(emulate argv --image "$IMAGE" --path-prefix "$(dirname "$(command -v node)")" "${WRAP[@]}" "${RUN_ENV[@]}" -- status --json)
"${STATUS_CMD[@]}" >"$WORK/status.json" 2>"$WORK/status.err" || { cat "$WORK/status.err"; die "\`docker run IMAGE status --json\` failed"; }
COLLECTED=$(node -e 'const s=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));const b=(s.apps??s)[0]?.buckets??[];console.log(b.filter(x=>x.condition==="final"||x.condition==="pending").length)' "$WORK/status.json")
[ "$COLLECTED" -gt 0 ] || { cat "$WORK/status.json"; die "status shows no collected bucket"; }
ok "\`docker run IMAGE status --json\` (CMD override): $COLLECTED buckets collected"

kill -TERM "$(pid1 "$SIM_PID")"
set +e
wait "$SIM_PID"
SIM_EXIT=$?
set -e
[ "$SIM_EXIT" = 0 ] || die "the simulator exited with $SIM_EXIT"

# --- summary ---------------------------------------------------------------------------------
step "summary"
printf 'checked:\n'; printf '  - %s\n' "${CHECKED[@]}"
if [ "${#SKIPPED[@]}" -gt 0 ]; then printf 'skipped:\n'; printf '  - %s\n' "${SKIPPED[@]}"; fi
cat <<'EOF'
not exercised here (no Docker engine): a real `docker build` (base image pull, apt-get in the
image, layer contents), a real `docker compose up` (postgres:17 and grafana containers, named
volumes, the compose network, restart policy, the engine running the HEALTHCHECK), Grafana itself.
EOF
echo "validate-container: OK in $(($(date +%s) - STARTED)) s"
