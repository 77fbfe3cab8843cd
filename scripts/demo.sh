#!/usr/bin/env bash
# A demo rollback on local defaults: a throwaway PostgreSQL, a Django project
# shaped like Flagsmith (generated from its real migration graph), release
# v2.150.0 deployed, then v2.265.0, then the action run exactly as a runner runs
# it to roll back to v2.150.0. Prints the job summary and the outputs.
# Usage: bash scripts/demo.sh [FROM_TAG] [TO_TAG]   (defaults v2.150.0 v2.265.0)
# One command on a fresh machine: it runs the set-up (scripts/setup-test-env.sh)
# first, and npm ci / npm run build when node_modules or dist/index.js is
# missing; if something is still missing it stops with one line saying what.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
from=${1:-v2.150.0}
to=${2:-v2.265.0}

command -v node >/dev/null 2>&1 || { echo "scripts/demo.sh: node is not on PATH: install Node 20 or later" >&2; exit 1; }
bash scripts/setup-test-env.sh >/dev/null
[ -d node_modules ] || npm ci --no-audit --no-fund >/dev/null
[ -f dist/index.js ] || npm run build >/dev/null
env -u ROLLBACK_TEST_PYTHON node __tests__/support/setup-check.mjs demo scripts/demo.sh || exit 1

work=$(mktemp -d /tmp/rollback-demo-XXXXXX)
chmod 755 "$work"
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
as_pg=()
if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$work"; as_pg=(runuser -u postgres --); fi
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

echo "== PostgreSQL 15 on 127.0.0.1:$port"
"${as_pg[@]}" "$pg_bin/initdb" -D "$work/pg" -U postgres --auth=trust --no-sync >/dev/null
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w start \
  -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c fsync=off" >/dev/null
db="postgres://postgres@127.0.0.1:$port/flagsmith"
"$pg_bin/psql" -q "postgres://postgres@127.0.0.1:$port/postgres" -c 'CREATE DATABASE flagsmith'

echo "== Flagsmith-shaped projects for $from and $to"
.venv/bin/python __tests__/support/flagsmith_project.py "$from" "$work/$from"
.venv/bin/python __tests__/support/flagsmith_project.py "$to" "$work/$to"

echo "== deploy $from"
DATABASE_URL=$db .venv/bin/python "$work/$from/manage.py" migrate --noinput -v 0
cutoff=$("$pg_bin/psql" -At "$db" -c "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
echo "== deploy $to (after $cutoff)"
DATABASE_URL=$db .venv/bin/python "$work/$to/manage.py" migrate --noinput -v 0
echo "   $("$pg_bin/psql" -At "$db" -c "SELECT count(*) FROM django_migrations WHERE applied >= '$cutoff'") migrations applied by $to"

echo "== the action: roll back to $cutoff (executor local, strategy exact)"
touch "$work/output" "$work/summary" "$work/state"
env "INPUT_TARGET-DATETIME=$cutoff" "INPUT_DATABASE-URL=$db" INPUT_EXECUTOR=local \
  "INPUT_MANAGE-COMMAND=$repo/.venv/bin/python $work/$to/manage.py" \
  DATABASE_URL="$db" GITHUB_OUTPUT="$work/output" GITHUB_STEP_SUMMARY="$work/summary" GITHUB_STATE="$work/state" \
  RUNNER_TEMP="$work" node dist/index.js || true

echo; echo "================ job summary ================"; cat "$work/summary"
echo "================ outputs ================"; grep -v '^ghadelimiter' "$work/output" | sed 's/<<ghadelimiter.*$/:/' | cut -c1-300
