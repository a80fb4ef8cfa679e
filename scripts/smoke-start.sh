#!/usr/bin/env bash
# Smoke test of the README quick start: `npm start` on the bundled gateway.yaml
# answers /-/ready within seconds. Uses a free loopback port and a temp store.
set -euo pipefail
cd "$(dirname "$0")/.."
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
data=$(mktemp -d)
log=$(mktemp)
# Its own session, so the whole group (npm, sh and the gateway npm starts) is stopped at exit:
# killing npm alone left the gateway running.
setsid npm start --silent -- --listen "127.0.0.1:${port}" --storage.path "$data" >"$log" 2>&1 &
pid=$!
trap 'kill -- -$pid 2>/dev/null || true; sleep 0.5; rm -rf "$data"' EXIT
for i in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:${port}/-/ready" >/dev/null 2>&1; then
    echo "ready after $((i * 100))ms"
    exit 0
  fi
  sleep 0.1
done
echo "gateway not ready within 10s"; cat "$log"; exit 1
