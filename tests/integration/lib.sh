# lib.sh: shared helpers for the integration scenarios: a private world per script, the daemon, checks.
# Each script sources this, calls ts_setup, and ends with ts_done. Every
# process a script starts is killed by pid at exit; nothing else is touched.

BUILD=${BUILD:-build}
TSD=${TSD:-$BUILD/tracespoold}
TSCLI=${TSCLI:-$BUILD/tracespool}
FAKE_UPSTREAM=${FAKE_UPSTREAM:-$BUILD/tests/fake_upstream}
SPOOL_DUMP=${SPOOL_DUMP:-$BUILD/tests/spool_dump}
REF_EVENT=${REF_EVENT:-tests/data/reference_event.json}
T_PASSED=0
T_FAILED=0
T_SKIPPED=0
DAEMON_PID=
UPSTREAM_PID=
UPSTREAM_PORT=
TS_PIDS=()

ts_setup() {
	TMP=$(mktemp -d /tmp/tsit.XXXXXX)
	chmod 700 "$TMP"
	SOCK=$TMP/ts.sock
	SPOOL=$TMP/spool
	DLOG=$TMP/daemon.log
	trap ts_cleanup EXIT
	# The daemon reads TRACESPOOL_* from the environment: start clean.
	for v in $(env | sed -n 's/^\(TRACESPOOL_[A-Z_]*\)=.*/\1/p'); do
		unset "$v"
	done
}

# ts_kill_all: SIGKILL and reap every process the script started.
ts_kill_all() {
	local p
	for p in "${TS_PIDS[@]+"${TS_PIDS[@]}"}"; do
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
}

ts_cleanup() {
	ts_kill_all
	if [ "${T_FAILED:-0}" -ne 0 ] && [ -f "$DLOG" ]; then
		echo "# daemon log (last 30 lines):"
		tail -30 "$DLOG" | sed 's/^/#   /'
	fi
	rm -rf "$TMP"
}

ok() {
	T_PASSED=$((T_PASSED + 1))
	echo "ok - $1"
}

# skip NAME WHY: a check this machine cannot run. tests/run.sh counts it
# as skipped, neither passed nor failed.
skip() {
	T_SKIPPED=$((T_SKIPPED + 1))
	echo "ok - $1 # SKIP $2"
}

not_ok() {
	T_FAILED=$((T_FAILED + 1))
	echo "not ok - $1${2:+: $2}"
}

# check NAME COMMAND...: passes when the command succeeds.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name" "failed: $*"; fi
}

# check_eq NAME EXPECTED ACTUAL
check_eq() {
	if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1" "expected '$2', got '$3'"; fi
}

ts_done() {
	local f
	if [ "${TS_VALGRIND:-0}" = 1 ]; then
		for f in "$TMP"/valgrind.*.log; do
			[ -s "$f" ] || continue
			not_ok "valgrind reports no errors ($(basename "$f"))" "$(head -c 2000 "$f")"
		done
	fi
	echo "# $(basename "$0"): $T_PASSED passed, $T_FAILED failed, $T_SKIPPED skipped"
	[ "$T_FAILED" -eq 0 ]
	exit $?
}

# The daemon under valgrind when TS_VALGRIND=1 (any error fails the run).
ts_wrap() {
	if [ "${TS_VALGRIND:-0}" = 1 ]; then
		echo valgrind --quiet --error-exitcode=99 --leak-check=full \
			--errors-for-leak-kinds=definite --show-leak-kinds=definite \
			--log-file="$TMP/valgrind.%p.log"
	fi
}

# ts_start_daemon [ARGS...]: start on $SOCK and $SPOOL, wait until it answers.
ts_start_daemon() {
	local i
	# shellcheck disable=SC2046
	$(ts_wrap) "$TSD" -c /dev/null --set "socket=$SOCK" --set "spool_dir=$SPOOL" \
		--set "upstream_url=${UPSTREAM_URL:-http://127.0.0.1:9}" \
		--set log_level=debug "$@" >>"$DLOG" 2>&1 &
	DAEMON_PID=$!
	TS_PIDS+=("$DAEMON_PID")
	for i in $(seq 1 200); do
		if curl -s --max-time 1 --unix-socket "$SOCK" http://ts/healthz >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
			echo "# daemon exited at start:"
			tail -5 "$DLOG" | sed 's/^/#   /'
			return 1
		fi
		sleep 0.05
	done
	echo "# daemon did not answer within 10 s"
	return 1
}

# ts_stop_daemon: SIGTERM and wait; returns its exit code.
ts_stop_daemon() {
	local rc
	kill -TERM "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID"
	rc=$?
	DAEMON_PID=
	return $rc
}

ts_kill_daemon() {
	kill -9 "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
}

# req METHOD PATH [BODY|@FILE] [curl args...]: sets STATUS, BODY, HEADERS.
req() {
	local method=$1 path=$2 data=${3-}
	shift 3 2>/dev/null || shift $#
	local args=(-s --max-time 20 --unix-socket "$SOCK" -X "$method" -o "$TMP/resp.body"
		-D "$TMP/resp.headers" -w '%{http_code}' -H 'Content-Type: application/json')
	if [ -n "$data" ]; then
		args+=(--data-binary "$data")
	fi
	STATUS=$(curl "${args[@]}" "$@" "http://ts$path")
	BODY=$(cat "$TMP/resp.body" 2>/dev/null)
	HEADERS=$(cat "$TMP/resp.headers" 2>/dev/null)
}

# jget FILTER: jq over $BODY, raw output.
jget() {
	printf '%s' "$BODY" | jq -r "$1" 2>/dev/null
}

is_uuid_v4() {
	[[ $1 =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]]
}

# spool_dump: the spooled records as JSON lines {"seq","kind","event"}.
spool_dump() {
	"$SPOOL_DUMP" "$SPOOL"
}

# fill_spool PATH FILE MAX [ACKED]: POST the body in FILE to PATH until an
# answer is not 200, at most MAX times; the event ids of each 200 are
# appended to the file ACKED when it is named. STATUS, HEADERS and BODY
# are the last answer's. Succeeds when that answer was 503 (spool full).
fill_spool() {
	local path=$1 file=$2 max=$3 acked=${4-} i
	for i in $(seq 1 "$max"); do
		req POST "$path" "@$file"
		[ "$STATUS" = 200 ] || break
		[ -z "$acked" ] || jget '(.event_ids // [])[], (.event_id // empty)' >>"$acked"
	done
	[ "$STATUS" = 503 ]
}

stat_field() {
	curl -s --max-time 5 --unix-socket "$SOCK" http://ts/stats | jq -r ".$1"
}

# upstream_start SCHEME [FAKE_UPSTREAM ARGS...]: the fake remote API on a
# free loopback port, reached as SCHEME://127.0.0.1:PORT (UPSTREAM_URL).
upstream_start() {
	local line scheme=$1
	shift
	UPSTREAM_LOG=$TMP/upstream.log
	: >"$UPSTREAM_LOG"
	coproc UPSTREAM { exec "$FAKE_UPSTREAM" -p 0 -l "$UPSTREAM_LOG" "$@" 2>>"$TMP/upstream.err"; }
	UPSTREAM_PID=$UPSTREAM_PID
	TS_PIDS+=("$UPSTREAM_PID")
	read -r -t 10 line <&"${UPSTREAM[0]}"
	UPSTREAM_PORT=${line#port=}
	UPSTREAM_URL=$scheme://127.0.0.1:$UPSTREAM_PORT
	[ -n "$UPSTREAM_PORT" ]
}

# ts_start_upstream: the fake remote API on a free loopback port.
ts_start_upstream() {
	upstream_start http
}

# post_events NAME N: N events named NAME, each a POST /events answered 200.
post_events() {
	local i
	for i in $(seq 1 "$2"); do
		req POST /events "{\"event\":{\"event_type\":\"chain\",\"event_name\":\"$1\",\"inputs\":{\"i\":$i}}}"
		[ "$STATUS" = 200 ] || return 1
	done
}

upstream_ctl() {
	curl -s --max-time 5 ${UPSTREAM_CA:+--cacert "$UPSTREAM_CA"} -X POST \
		--data-binary "$1" "$UPSTREAM_URL/_control" >/dev/null
}

# wait_for SECONDS COMMAND...: poll until the command succeeds.
wait_for() {
	local secs=$1 i
	shift
	for i in $(seq 1 $((secs * 20))); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

# Forwarding checks against the fake upstream's log.
# The forwarder's timers, short enough for tests.
FWD=(--set retry_initial=100ms --set retry_max=1s --set flush_interval=50ms --set recovery_spread=200ms)

# uploaded_ids: every event_id the upstream answered 2xx, in arrival order.
uploaded_ids() {
	jq -r 'select(.answered>=200 and .answered<300 and .path=="/events/batch") | .body.events[]?.event_id' "$UPSTREAM_LOG"
}
count_uploaded() {
	[ "$(uploaded_ids | wc -l)" -ge "$1" ]
}
# missing_ids [FILE]: ids in FILE (default $TMP/acked) never answered 2xx.
missing_ids() {
	comm -23 <(sort -u "${1:-$TMP/acked}") <(uploaded_ids | sort -u)
}
all_arrived() {
	[ "$(missing_ids "$@" | wc -l)" -eq 0 ]
}
spool_empty() {
	[ "$(stat_field spool_events)" = 0 ]
}

# OTLP exports: otlp_gen writes them (span i of seed S has the span id
# S as 8 hex digits, then i + 1 as 8), and decodes protobuf bodies.
OTLP_GEN=${OTLP_GEN:-$BUILD/tests/otlp_gen}
GEN=$OTLP_GEN

# uploaded_spans: the span ids of every export the upstream answered 2xx,
# protobuf (decoded by otlp_gen) and JSON alike, one a line.
uploaded_spans() {
	jq -r 'select(.answered>=200 and .answered<300 and .path=="/opentelemetry/v1/traces"
		and (.content_type | startswith("application/x-protobuf"))) | .body_b64' \
		"$UPSTREAM_LOG" | "$OTLP_GEN" -B | jq -r .span_id
	jq -r 'select(.answered>=200 and .answered<300 and .path=="/opentelemetry/v1/traces"
		and (.content_type | startswith("application/json"))) |
		.body.resourceSpans[].scopeSpans[].spans[].spanId' "$UPSTREAM_LOG"
}
# span_ids SEED N: the ids otlp_gen gives the N spans of seed SEED.
span_ids() {
	local i
	for i in $(seq 1 "$2"); do printf '%08x%08x\n' "$1" "$i"; done
}

# ts_make_ca DIR: a CA made for the test (DIR/ca.pem), a certificate it
# signed for 127.0.0.1 and localhost (DIR/srv.pem, DIR/srv.key), and one
# for another name only (DIR/other.pem, DIR/other.key). EC P-256 keys.
ts_make_ca() {
	local d=$1 name
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$d/ca.key" -out "$d/ca.pem" -days 2 \
		-subj "/CN=tracespool test CA" >/dev/null 2>&1 || return 1
	for name in srv other; do
		if [ "$name" = srv ]; then
			printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
		else
			printf 'subjectAltName=DNS:other.invalid\nextendedKeyUsage=serverAuth\n'
		fi >"$d/$name.ext"
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout "$d/$name.key" -out "$d/$name.csr" \
			-subj "/CN=tracespool test $name" >/dev/null 2>&1 &&
			openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
				-CAcreateserial -out "$d/$name.pem" -days 2 -extfile "$d/$name.ext" \
				>/dev/null 2>&1 || return 1
	done
}

# ts_start_upstream_tls CERT KEY: the fake remote API over HTTPS only;
# sets UPSTREAM_URL to https://127.0.0.1:PORT. upstream_ctl then needs
# UPSTREAM_CA (the CA file) to trust it.
ts_start_upstream_tls() {
	upstream_start https -C "$1" -K "$2"
}

# sdk_install: the pinned Node SDK (tests/sdk/package-lock.json) in
# tests/sdk/node_modules, installed once; scripts that run side by side
# take turns through a lock. 0 when it is there, 1 (said why in
# $TMP/npm.log) when npm could not install it.
sdk_install() {
	local dir=tests/sdk
	(
		flock 9
		[ -d "$dir/node_modules/honeyhive" ] && exit 0
		command -v npm >/dev/null 2>&1 || {
			echo "npm is not installed" >"$TMP/npm.log"
			exit 1
		}
		# The exact tree of package-lock.json; npm ci never resolves anew.
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >"$TMP/npm.log" 2>&1
	) 9>"$dir/.install.lock"
}
