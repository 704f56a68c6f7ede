#!/usr/bin/env bash
# One `pushloss collect` for many apps (default 10,000) against the simulator in its own process
# (bench/simulatorProcess.ts, Tencent's real 1 call/second per app), into a scratch database on
# the PostgreSQL server SERVER_URL (dropped afterwards). Prints /usr/bin/time -v's wall time and
# peak RSS, what the simulator saw (calls, refused for rate, smallest gap), and what was stored.
#   APPS=10000 HORIZON=1d scripts/collect-at-scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH" # Node 24 from the devDependency
APPS=${APPS:-10000}
HORIZON=${HORIZON:-7d}
SERVER_URL=${SERVER_URL:-postgres://postgres@127.0.0.1:5432/postgres}
FIRST=1500000000
OUT=$(mktemp -d)
DB=scale_$RANDOM$RANDOM
node bench/simulatorProcess.ts $FIRST "$APPS" >"$OUT/sim.out" &
SIM=$!
while [ ! -s "$OUT/sim.out" ]; do sleep 0.2; done
URL=$(head -1 "$OUT/sim.out")
node -e "const n=$APPS,f=$FIRST;console.log(JSON.stringify(Array.from({length:n},(_,i)=>({sdkappid:f+i,secretKey:'bench-'+(f+i),region:'china',baseUrl:'$URL'}))))" >"$OUT/apps.json"
psql "$SERVER_URL" -qc "create database $DB"
trap 'kill $SIM 2>/dev/null || true; psql "$SERVER_URL" -qc "drop database if exists $DB with (force)"; rm -rf "$OUT"' EXIT
export PUSHLOSS_APPS_FILE=$OUT/apps.json DATABASE_URL=${SERVER_URL%/*}/$DB COLLECT_APIS=loss LOSS_HORIZON=$HORIZON LOG_LEVEL=error
node src/cli/main.ts migrate >/dev/null
/usr/bin/time -v node src/cli/main.ts collect 2>"$OUT/time" | tail -1 || true
grep -E 'Elapsed|Maximum resident|Exit status' "$OUT/time"
kill -TERM $SIM
wait $SIM || true
echo "simulator: $(tail -1 "$OUT/sim.out")"
psql "$DATABASE_URL" -tAc "select count(*) || ' calls archived, ' || count(*) filter (where outcome <> 'ok') || ' not ok' from tim_call"
psql "$DATABASE_URL" -tAc "select count(*) filter (where last_fetched_at is not null) || ' buckets stored, ' || count(*) filter (where lost_at is not null) || ' lost' from bucket_state"
