#!/usr/bin/env bash
# Two builds of the proxy, A and B, under the same small-request load
# (wrk GET /v1/models, as ../shared/bench/run.sh), runs alternated
# (A B A B ...) so that the shared machine's drift falls on both alike:
# run.sh runs each target once, one after the other, and the same binary
# moves 10-20 % between its runs.
#
#   BENCH_SENTINEL='env ... (as in Taskfile.yml)' test/bench/rps-ab.sh A_BINARY B_BINARY [ROUNDS] [DURATION]
#
# A (or B) may be the word nginx: the benchmark's nginx (../shared/bench/
# nginx.conf), its workers' CPU counted; then the pairs' ratio is the
# small-request goal's, measured over many pairs instead of one run.
#
# Prints one line per run: name, requests per second, p99, the proxy's
# CPU per request (user+system from /proc/PID/stat over the run, with its
# direct children), the upstream's, and the hypervisor's steal over the
# run; then the mean of each side and the median, lowest and highest of
# the pairs' B/A ratios of rps and of CPU per request; and the rps ratio's
# median over the pairs in which neither run saw more than STEAL_MAX % steal
# (default 3): the hypervisor's steal is what moves a pair most.
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
RUNS=$(mktemp)
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -f "$RUNS"' EXIT
"$BIN/benchupstream" -addr 127.0.0.1:18080 >/dev/null 2>&1 & PIDS+=($!)
UP=$!
# start NAME PORT BINARY: a Sentinel build on PORT, or nginx (whose port
# is its config's, 18082); sets PORT_OF and PID_OF.
declare -A PORT_OF PID_OF
start() {
	if [[ $3 == nginx ]]; then
		command -v nginx >/dev/null || { echo "nginx is not installed" >&2; exit 1; }
		mkdir -p /tmp/bench-nginx
		nginx -e /tmp/bench-nginx/error.log -p /tmp/bench-nginx/ -c "$BENCH/nginx.conf" -g 'daemon off;' &
		PIDS+=($!); PID_OF[$1]=$!; PORT_OF[$1]=18082
		return
	fi
	$BENCH_SENTINEL APP_PORT="$2" "$3" >"/tmp/rps-ab-$1.log" 2>&1 & PIDS+=($!)
	PID_OF[$1]=$!; PORT_OF[$1]=$2
}
start A 18096 "$A"
start B 18097 "$B"
AUTH='Authorization: Bearer sk-test123'
for port in "${PORT_OF[A]}" "${PORT_OF[B]}"; do
	for _ in $(seq 100); do
		curl -s -o /dev/null -m 1 -H "$AUTH" "http://127.0.0.1:$port/v1/models" && break
		sleep 0.1
	done
done
# ticks PID: CPU ticks of PID and its direct children (nginx's workers).
ticks() {
	local t p
	t=$(awk '{print $14 + $15}' "/proc/$1/stat")
	for p in $(pgrep -P "$1"); do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}
# steal: the share of the machine's CPU time the hypervisor took during a
# run (/proc/stat). Above a few per cent the run measures the host's other
# guests as much as the proxy; compare such runs with care.
cpustat() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $9}' /proc/stat; }
TCK=$(getconf CLK_TCK)
one() { # name port pid
	wrk -t2 -c64 -d2s -H "$AUTH" "http://127.0.0.1:$2/v1/models" >/dev/null 2>&1
	local t0 out t1
	local s0 s1
	local u0 u1
	t0=$(ticks "$3")
	u0=$(ticks "$UP")
	s0=$(cpustat)
	out=$(wrk -t2 -c64 -d"${DURATION}s" --latency -H "$AUTH" "http://127.0.0.1:$2/v1/models")
	t1=$(ticks "$3")
	u1=$(ticks "$UP")
	s1=$(cpustat)
	local rps p99 reqs
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
	reqs=$(awk '/requests in/ {print $1}' <<<"$out")
	awk -v n="$1" -v r="$rps" -v p="$p99" -v t=$((t1 - t0)) -v u=$((u1 - u0)) -v q="$reqs" -v k="$TCK" -v s0="$s0" -v s1="$s1" \
		'BEGIN {split(s0, a, " "); split(s1, b, " "); st = (b[1] > a[1]) ? 100 * (b[2] - a[2]) / (b[1] - a[1]) : 0
		printf "%s rps=%s p99=%s cpu_us_per_req=%.1f upstream_us_per_req=%.1f steal=%.0f%%\n", n, r, p, t / k * 1e6 / q, u / k * 1e6 / q, st}'
}
for _ in $(seq "$ROUNDS"); do
	one A "${PORT_OF[A]}" "${PID_OF[A]}"
	one B "${PORT_OF[B]}" "${PID_OF[B]}"
done | tee "$RUNS"
awk -v smax="${STEAL_MAX:-3}" '
	{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] + 0 } }
	$1 == "A" { ar = v["rps"]; ac = v["cpu_us_per_req"]; as = v["steal"]; sa += ar; ca += ac; n++ }
	$1 == "B" { rr[n] = v["rps"] / ar; cr[n] = v["cpu_us_per_req"] / ac; sb += v["rps"]; cb += v["cpu_us_per_req"]
		if (as <= smax && v["steal"] <= smax) { qr[++q] = rr[n] } }
	function med(x, m,   i, j, t) { for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
		return (m % 2) ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2 }
	END { if (n == 0) exit 1
		printf "mean A rps=%.0f cpu_us_per_req=%.1f | mean B rps=%.0f cpu_us_per_req=%.1f\n", sa / n, ca / n, sb / n, cb / n
		m = n; lo = hi = rr[1]; for (i = 1; i <= m; i++) { lo = rr[i] < lo ? rr[i] : lo; hi = rr[i] > hi ? rr[i] : hi }
		printf "B/A over %d pairs: rps median %.3f (lowest %.3f, highest %.3f)", m, med(rr, m), lo, hi
		printf ", CPU per request median %.3f\n", med(cr, m)
		if (q == 0) { printf "no pair ran with steal at most %d %% on both sides\n", smax; exit }
		lo = hi = qr[1]; for (i = 1; i <= q; i++) { lo = qr[i] < lo ? qr[i] : lo; hi = qr[i] > hi ? qr[i] : hi }
		printf "B/A over the %d pairs with steal at most %d %% on both sides: rps median %.3f (lowest %.3f, highest %.3f)\n", q, smax, med(qr, q), lo, hi }' "$RUNS"
