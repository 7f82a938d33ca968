#!/usr/bin/env bash
# t_sdk_node.sh: the real honeyhive npm package (pinned in tests/sdk) against the daemon's listen_tcp and a fake upstream.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup

if ! command -v node >/dev/null 2>&1; then
	skip "the honeyhive Node SDK against the daemon" "node is not installed (scripts/deps.sh installs it)"
	ts_done
fi
SDK_DIR=tests/sdk
if ! sdk_install; then
	not_ok "npm ci installs the pinned SDK" "$(tail -5 "$TMP/npm.log")"
	ts_done
fi
check_eq "the SDK is the pinned version" 1.0.42 \
	"$(node -p 'require("./tests/sdk/node_modules/honeyhive/package.json").version')"

ts_start_upstream || { not_ok "fake upstream starts"; ts_done; }
# A free loopback port for listen_tcp, from the kernel.
PORT=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
export TRACESPOOL_API_KEY=daemon-key
ts_start_daemon --set "listen_tcp=127.0.0.1:$PORT" --set flush_interval=50ms \
	--set retry_initial=100ms --set retry_max=1s || { not_ok "daemon starts with listen_tcp"; ts_done; }

# run_node SCRIPT: one Node test; it prints its own ok / not ok lines.
run_node() {
	local out=$TMP/$1.out rc
	TS_URL=http://127.0.0.1:$PORT UPSTREAM_LOG=$UPSTREAM_LOG UPSTREAM_KEY=daemon-key \
		HONEYHIVE_TELEMETRY=false timeout 120 node "$SDK_DIR/$1" >"$out" 2>&1
	rc=$?
	grep -E '^(ok|not ok) ' "$out"
	T_PASSED=$((T_PASSED + $(grep -c '^ok ' "$out")))
	T_FAILED=$((T_FAILED + $(grep -c '^not ok ' "$out")))
	if [ "$rc" -ne 0 ] && ! grep -q '^not ok ' "$out"; then
		not_ok "$1 runs to its end" "exit $rc: $(tail -5 "$out")"
	fi
}

# The event API's client, then the SDK's own tracer (OTLP protobuf on
# /opentelemetry/v1/traces), then the standard OpenTelemetry exporter
# (OTLP JSON with gzip on /v1/traces).
run_node sdk_test.mjs
run_node tracer_test.mjs
run_node otel_test.mjs
ts_stop_daemon
check_eq "SIGTERM exits 0" 0 $?
ts_done
