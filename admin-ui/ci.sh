#!/usr/bin/env bash
# CI for the admin console, called by .ci/run. It installs Debian's Chromium
# when missing, runs `npm ci`, fails when the generated API types or the
# committed build (dist/, embedded by the Go binaries) are stale, type-checks,
# and runs the browser tests:
#   - always: the smoke run against `vite preview` (no API needed);
#   - with SENTINEL_E2E_ADMIN_URL (+ SENTINEL_E2E_ADMIN_PASSWORD, optional
#     SENTINEL_E2E_PROXY_URL): the console scenarios against that running sentinel;
#   - with --with-sentinel: starts a real upstream and the real binary
#     (`go build ./cmd/sentinel` into a temporary directory, or SENTINEL_BIN,
#     a prebuilt one; SQLite store there too) serving the embedded console on
#     its admin listener, and runs every scenario, lockout last.
# Screenshots land in admin-ui/e2e/screenshots/ (not committed).
set -euo pipefail
cd "$(dirname "$0")"
log() { printf '\n==> admin-ui: %s\n' "$*"; }

with_sentinel=0
[ "${1:-}" = "--with-sentinel" ] && with_sentinel=1

if [ ! -x /usr/bin/chromium ]; then
	log "installing Chromium from Debian"
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-wqy-microhei
fi

log "npm ci"
npm ci --no-audit --no-fund

log "generated API types are fresh"
node scripts/gen-api.mjs --check

log "vue-tsc --noEmit"
npm run typecheck

log "committed build is fresh"
tmp=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
cp src/auto-imports.d.ts src/components.d.ts "$tmp/"
npx vite build --outDir "$tmp/dist" --emptyOutDir >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
if ! diff -r dist "$tmp/dist" >/dev/null || ! cmp -s "$tmp/auto-imports.d.ts" src/auto-imports.d.ts || ! cmp -s "$tmp/components.d.ts" src/components.d.ts; then
	echo "admin-ui/dist is stale: run 'npm ci && npm run build' in admin-ui and commit dist/"
	diff -r dist "$tmp/dist" | head -20 || true
	exit 1
fi
node scripts/size.mjs "$tmp/dist"

log "browser smoke run (vite preview, no API)"
npm run e2e:smoke

wait_for() { # url deadline-seconds [pid that must stay alive]
	local until=$((SECONDS + $2))
	until curl -s -o /dev/null "$1"; do
		[ $SECONDS -ge $until ] && { echo "$1 did not answer"; return 1; }
		[ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null && { echo "the process serving $1 exited"; return 1; }
		sleep 0.2
	done
}

if [ $with_sentinel = 1 ]; then
	log "starting a real upstream and sentinel (SQLite in $tmp)"
	up=17980 app=17900 adm=17901
	node e2e/upstream.mjs $up >"$tmp/upstream.log" 2>&1 &
	pids+=($!)
	if [ -n "${SENTINEL_BIN:-}" ]; then cp "$SENTINEL_BIN" "$tmp/sentinel"; else (cd .. && go build -o "$tmp/sentinel" ./cmd/sentinel); fi
	export SENTINEL_E2E_ADMIN_PASSWORD="e2e-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	DOWNSTREAM_URL=http://127.0.0.1:$up APP_HOST=0.0.0.0 APP_PORT=$app ADMIN_HOST=127.0.0.1 ADMIN_PORT=$adm \
		SENTINEL_DATA_DIR="$tmp/data" ADMIN_PASSWORD="$SENTINEL_E2E_ADMIN_PASSWORD" \
		ADMIN_JWT_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
		ADMIN_LOGIN_MAX_FAILURES=4 SENTINEL_METRICS_ADDR=off ALERT_WEBHOOK_ALLOW_PRIVATE=true \
		env -u SENTINEL_BIN -u SENTINEL_E2E_ADMIN_PASSWORD "$tmp/sentinel" >"$tmp/sentinel.log" 2>&1 &
	pids+=($!)
	wait_for "http://127.0.0.1:$adm/admin/api/health" 60 "${pids[-1]}" || { cat "$tmp/sentinel.log"; exit 1; }
	# The console is the binary's own embedded build, served on the admin listener.
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$adm/admin/ui/")
	[ "$code" = 200 ] || { echo "GET /admin/ui/ on the admin listener answered $code"; exit 1; }
	export SENTINEL_E2E_ADMIN_URL=http://127.0.0.1:$adm SENTINEL_E2E_PROXY_URL=http://127.0.0.1:$app SENTINEL_E2E_LOCKOUT=1 \
		SENTINEL_E2E_HOOK_URL=http://127.0.0.1:$up/hook
fi

if [ -n "${SENTINEL_E2E_ADMIN_URL:-}" ]; then
	log "console scenarios against $SENTINEL_E2E_ADMIN_URL"
	npm run e2e || { [ -f "$tmp/sentinel.log" ] && tail -40 "$tmp/sentinel.log"; exit 1; }
else
	log "SENTINEL_E2E_ADMIN_URL not set: console scenarios skipped"
fi
