#!/bin/bash
# The README's measurements: measure.sh pg|sqlite RUNS FILL_RUNS, run as root in /tmp/benchrun holding the twofold
# and twofold-bench binaries (go build -o /tmp/benchrun/… ./cmd/twofold ./cmd/twofold-bench) and a master key file
# `key` (openssl rand -base64 32). For one database it starts a fresh server, seeds 200 accounts, runs every path
# RUNS times (10 s each, 8 workers), fires 1,000 simultaneous sign-ins, fills 1,000,000 users and 1,000,000 refresh
# tokens and runs every path FILL_RUNS times more. Results: m/KIND/{run,big}N.json, overload.json, fill.txt.
# PostgreSQL: the local cluster, database twofold_bench (dropped and made anew) owned by role twofold/twofold.
set -euo pipefail
kind=$1; runs=${2:-5}; fillruns=${3:-3}
cd /tmp/benchrun
out=m/$kind; mkdir -p $out
pkill -f "twofold serve" || true; sleep 1
if [ $kind = pg ]; then
  su postgres -c "psql -qc 'DROP DATABASE IF EXISTS twofold_bench WITH (FORCE)'" ; su postgres -c "psql -qc 'CREATE DATABASE twofold_bench OWNER twofold'"
  db='postgres://twofold:twofold@127.0.0.1:5432/twofold_bench?sslmode=disable'
else
  rm -rf sq && mkdir sq; db="sqlite:/tmp/benchrun/sq/twofold.db"
fi
cat > $kind.yaml <<YAML
issuer: http://localhost:8080
listen: 127.0.0.1:8080
database: $db
secret_key_file: /tmp/benchrun/key
max_pending_sign_ins: 100000
log_level: warn
YAML
./twofold serve --config $kind.yaml > $out/server.log 2>&1 &
for i in $(seq 1 50); do curl -sf localhost:8080/readyz >/dev/null && break; sleep 0.2; done
./twofold-bench --issuer http://localhost:8080 --seed 200 --twofold ./twofold --config $kind.yaml --state $out/setup.json --paths discovery --count 10 > /dev/null 2> $out/seed.log
for r in $(seq 1 $runs); do
  ./twofold-bench --issuer http://localhost:8080 --state $out/setup.json --workers 8 --duration 10s --json $out/run$r.json > $out/run$r.txt 2>/dev/null
done
./twofold-bench --issuer http://localhost:8080 --state $out/setup.json --overload 1000 --json $out/overload.json > $out/overload.txt 2>/dev/null
client=$(python3 -c "import json;print(json.load(open('$out/setup.json'))['client']['id'])")
/usr/bin/time -f "%e s" ./twofold-bench fill --database "$db" --users 1000000 --refresh-tokens 1000000 --client $client > $out/fill.txt 2>&1
for r in $(seq 1 $fillruns); do
  ./twofold-bench --issuer http://localhost:8080 --state $out/setup.json --workers 8 --duration 10s --json $out/big$r.json > $out/big$r.txt 2>/dev/null
done
echo done > $out/DONE
