#!/usr/bin/env bash
# Two builds of the proxy, A and B, under the same small-request load
# (wrk GET /v1/models, as ../shared/bench/run.sh), runs alternated
# (A B A B ...) so that the shared machine's drift falls on both alike:
# run.sh runs each target once, one after the other, and the same binary
# moves 10-20 % between its runs.
#
#   BENCH_SENTINEL='env ... (as in Taskfile.yml)' test/bench/rps-ab.sh A_BINARY B_BINARY [ROUNDS] [DURATION]
#
# Prints one line per run: name, requests per second, p99, the proxy's
# CPU per request (user+system from /proc/PID/stat over the run), and the
# hypervisor's steal over the run.
# Loopback only; every process started is stopped on exit.
set -uo pipefail
A=${1:?A binary}
B=${2:?B binary}
ROUNDS=${3:-4}
DURATION=${4:-6}
BENCH=${BENCH:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../shared/bench" && pwd)}
BIN=${BIN:-/tmp/bin}
: "${BENCH_SENTINEL:?set BENCH_SENTINEL to the env prefix of Taskfile.yml}"
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }
mkdir -p "$BIN"
(cd "$BENCH/upstream" && go build -o "$BIN/benchupstream" .) || exit 1

PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null' EXIT
"$BIN/benchupstream" -addr 127.0.0.1:18080 >/dev/null 2>&1 & PIDS+=($!)
$BENCH_SENTINEL APP_PORT=18096 "$A" >/tmp/rps-ab-a.log 2>&1 & PIDS+=($!); PA=$!
$BENCH_SENTINEL APP_PORT=18097 "$B" >/tmp/rps-ab-b.log 2>&1 & PIDS+=($!); PB=$!
AUTH='Authorization: Bearer sk-test123'
for port in 18096 18097; do
	for _ in $(seq 100); do
		curl -s -o /dev/null -m 1 -H "$AUTH" "http://127.0.0.1:$port/v1/models" && break
		sleep 0.1
	done
done
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# steal: the share of the machine's CPU time the hypervisor took during a
# run (/proc/stat). Above a few per cent the run measures the host's other
# guests as much as the proxy; compare such runs with care.
cpustat() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $9}' /proc/stat; }
TCK=$(getconf CLK_TCK)
one() { # name port pid
	wrk -t2 -c64 -d2s -H "$AUTH" "http://127.0.0.1:$2/v1/models" >/dev/null 2>&1
	local t0 out t1
	local s0 s1
	t0=$(ticks "$3")
	s0=$(cpustat)
	out=$(wrk -t2 -c64 -d"${DURATION}s" --latency -H "$AUTH" "http://127.0.0.1:$2/v1/models")
	t1=$(ticks "$3")
	s1=$(cpustat)
	local rps p99 reqs
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	reqs=$(awk '/requests in/ {print $1}' <<<"$out")
	awk -v n="$1" -v r="$rps" -v p="$p99" -v t=$((t1 - t0)) -v q="$reqs" -v k="$TCK" -v s0="$s0" -v s1="$s1" \
		'BEGIN {split(s0, a, " "); split(s1, b, " "); st = (b[1] > a[1]) ? 100 * (b[2] - a[2]) / (b[1] - a[1]) : 0
		printf "%s rps=%s p99=%s cpu_us_per_req=%.1f steal=%.0f%%\n", n, r, p, t / k * 1e6 / q, st}'
}
for _ in $(seq "$ROUNDS"); do
	one A 18096 "$PA"
	one B 18097 "$PB"
done
