#!/usr/bin/env bash
# Two builds of the proxy, A and B, side by side under the same open-stream
# load, runs alternated (A B A B ...) so that the shared machine's drift
# falls on both alike: ../shared/bench/streams.sh runs each target once,
# one after the other, and its CPU figures move 10-20 % between runs.
#
#   BENCH_SENTINEL='env ... (as in Taskfile.yml)' test/bench/streams-ab.sh A_BINARY B_BINARY [ROUNDS] [N]
#
# Prints one streamload line per run (name n ok rss_idle_mb rss_open_mb
# kb_per_stream cpu_ms cpu_us_per_event ttfb_p50_ms ttfb_p99_ms). Only the
# first pair's kb_per_stream is comparable: later runs start from the
# memory earlier streams left resident. Loopback only; every process
# started is stopped on exit.
set -uo pipefail
A=${1:?A binary}
B=${2:?B binary}
ROUNDS=${3:-3}
N=${4:-1000}
BENCH=${BENCH:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../shared/bench" && pwd)}
BIN=${BIN:-/tmp/bin}
: "${BENCH_SENTINEL:?set BENCH_SENTINEL to the env prefix of Taskfile.yml}"
ulimit -n "$(ulimit -Hn)" 2>/dev/null
mkdir -p "$BIN"
(cd "$BENCH/upstream" && go build -o "$BIN/benchupstream" .) || exit 1
(cd "$BENCH/streams" && go build -o "$BIN/streamload" .) || exit 1

PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null' EXIT
"$BIN/benchupstream" -addr 127.0.0.1:18080 >/dev/null 2>&1 & PIDS+=($!)
$BENCH_SENTINEL APP_PORT=18096 "$A" >/tmp/streams-ab-a.log 2>&1 & PIDS+=($!); PA=$!
$BENCH_SENTINEL APP_PORT=18097 "$B" >/tmp/streams-ab-b.log 2>&1 & PIDS+=($!); PB=$!
for port in 18096 18097; do
	for _ in $(seq 100); do
		curl -s -o /dev/null -m 1 -H 'Authorization: Bearer sk-test123' "http://127.0.0.1:$port/v1/models" && break
		sleep 0.1
	done
done
for _ in $(seq "$ROUNDS"); do
	"$BIN/streamload" -name A -n "$N" -pid "$PA" -url "http://127.0.0.1:18096/v1/chat/completions?delay_ms=250"
	sleep 1
	"$BIN/streamload" -name B -n "$N" -pid "$PB" -url "http://127.0.0.1:18097/v1/chat/completions?delay_ms=250"
	sleep 1
done
