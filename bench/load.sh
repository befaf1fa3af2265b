#!/usr/bin/env bash
# Load on loopback (docs/reliability.md): 200 signed-in clients browsing pages, dataset grids,
# result tables and downloads (wrk) plus 50 open live-progress streams, for 60 s, while the
# first evaluation runs; during it a flood of 1,000 wrong passwords (hey) and /healthz timed
# beside it. Prints errors, p50/p99 latency, the server's peak memory. Installs wrk and hey
# from Debian if missing. Usage: bench/load.sh [SECONDS]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
secs="${1:-60}"
for tool in wrk hey; do
  command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null; }
done
bin="${CARGO_TARGET_DIR:-$ROOT/target}/release/vlm-inspect"
[ -x "$bin" ] || cargo build --release -p vlm-inspect
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
data="$work/data"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
echo "load-test-password" | "$bin" user add ada --role admin --password-stdin --data-dir "$data" >/dev/null
"$bin" serve --addr "127.0.0.1:$port" --data-dir "$data" --first-evaluation >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 600); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.5; done
curl -sf -c "$work/jar" -d "username=ada&password=load-test-password" "$url/api/login" >/dev/null
cookie="vlm_session=$(awk '$6 == "vlm_session" {print $7}' "$work/jar")"
# Wait for the first evaluation to be running.
run=""
for _ in $(seq 600); do
  run=$(curl -sf -b "$cookie" -X POST "$url/api/eval/runs" | python3 -c '
import json, sys
runs = [r for r in json.load(sys.stdin) if r["job"]["state"] == "running"]
print(runs[0]["job"]["id"] if runs else "")')
  [ -n "$run" ] && break
  sleep 1
done
[ -n "$run" ] || { echo "no evaluation started"; exit 1; }
image=$(curl -sf -b "$cookie" -X POST -d "name=loco-synth&page=1&filter[category]=&filter[split]=&filter[label]=&filter[qa_source]=" "$url/api/dataset/images" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["images"][0]["id"])')
grep -m1 "model name" /proc/cpuinfo
echo "server pid $server, evaluation $run running, image $image"

# 50 live-progress streams held open for the whole run.
for i in $(seq 50); do
  curl -sN -b "$cookie" --max-time "$((secs + 5))" "$url/api/jobs/$run/events" >"$work/sse-$i.txt" 2>/dev/null &
  echo $! >>"$work/sse.pids"
done
COOKIE="$cookie" RUN="$run" DATASET=loco-synth IMAGE="$image" \
  wrk -t2 -c200 -d"${secs}s" --timeout 10s --latency -s "$ROOT/bench/load/browse.lua" "$url" >"$work/wrk.txt" &
browse=$!
sleep $((secs / 4))
hey -z 20s -c 2 -q 10 "$url/healthz" >"$work/health.txt" &
health=$!
hey -n 1000 -c 50 -m POST -T application/x-www-form-urlencoded \
  -d "username=ada&password=wrong-guess" "$url/api/login" >"$work/flood.txt"
wait "$health" "$browse"
sse_ok=0
while read -r pid; do
  # 28: still open when --max-time ran out; 0: the run ended and the stream closed.
  if wait "$pid"; then sse_ok=$((sse_ok + 1)); else [ $? -eq 28 ] && sse_ok=$((sse_ok + 1)); fi
done <"$work/sse.pids"
peak=$(awk '/VmHWM/ {print $2, $3}' "/proc/$server/status")
echo "== browsing (wrk, 200 connections, ${secs}s)"
grep -E "^LOAD|Non-2xx|Socket errors|Requests/sec" "$work/wrk.txt"
echo "== live streams: $sse_ok/50 stayed open (or closed when the run ended)"
echo "== login flood (hey, 1000 wrong passwords, 50 at once): status codes"
sed -n '/Status code distribution/,/^$/p' "$work/flood.txt"
echo "== /healthz during the flood (hey)"
grep -E "requests in|99% in|50% in|Requests/sec" "$work/health.txt" || true
sed -n '/Latency distribution/,/^$/p' "$work/health.txt"
echo "== server peak memory (VmHWM): $peak"
