#!/usr/bin/env bash
# run.sh: the benchmark set (make bench): ceilings and tracespool in one run, a table on stdout.
#
# Everything runs on this machine, against a spool in a temporary folder
# (on the disk of $TMPDIR, /tmp by default), with sync = full. Each figure
# of tracespool is compared with a ceiling measured in the same run with the
# same load generator and the same event (tests/data/reference_event.json,
# minified, a fresh event_id per event):
#   - single POST /events, 64 connections, closed loop, against libevent's
#     evhttp and nginx answering 200 without work on a Unix socket;
#   - POST /events/batch of 100, against LMDB appending the same values in
#     transactions of 256 with a sync per commit (bench/lmdb_probe);
#   - p99 acknowledgement latency at 10,000 events/s offered (open loop);
#   - forwarding: a spool prefilled with 1,000,000 events drained into
#     bench/sink while 10,000 events/s keep arriving;
#   - draining through a slow upstream: 20,000 events through bench/sink
#     answering each request after 20, 100 and 200 ms (bench/drain.sh);
#   - memory: VmRSS/VmHWM under load, on a spool of 1,000 and of 1,000,000;
#   - OTLP: exports of 100 spans (protobuf) against LMDB appending the same
#     bytes in transactions of 16, in bytes/s; single small exports against
#     the evhttp no-op;
#   - redaction: batches of 100 with five typical rules loaded, events that
#     match nothing and events with one e-mail address, against no rules.
# The raw results, one JSON line each, are kept in $BUILD/bench/results.jsonl.
#
# Needs jq and curl. Knobs: BENCH_SECONDS (each throughput run, default 8),
# BENCH_SPOOL_EVENTS (the large spool, default 1000000), BENCH_BATCH_CONNS
# (default 16).
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.." || exit 1

SECS=${BENCH_SECONDS:-8}
WARM=1
BIG=${BENCH_SPOOL_EVENTS:-1000000}
BCONNS=${BENCH_BATCH_CONNS:-16}
EVENT=tests/data/reference_event.json
TSD=$BUILD/tracespoold
LG=$BUILD/tests/loadgen
SINK=$BUILD/bench/sink
NOOP=$BUILD/bench/evhttp_noop
PROBE=$BUILD/bench/lmdb_probe
OUT=$BUILD/bench/results.jsonl

. bench/lib.sh
bench_need bench "$TSD" "$LG" "$SINK" "$NOOP" "$PROBE" -- jq curl
bench_tmp bench
: >"$OUT"

# result LINE: keep one JSON result.
result() {
	echo "$1" >>"$OUT"
	echo "$1" >&2
}

# stop PID: SIGTERM, wait, forget.
stop() {
	local p=$1 q keep=()
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	for q in "${PIDS[@]}"; do
		[ "$q" = "$p" ] || keep+=("$q")
	done
	PIDS=("${keep[@]+"${keep[@]}"}")
}

# wait_sock PATH: until a Unix socket answers.
wait_sock() {
	local _
	for _ in $(seq 1 200); do
		curl -s -o /dev/null --max-time 1 --unix-socket "$1" http://x/ 2>/dev/null && return 0
		sleep 0.05
	done
	echo "bench: nothing answers on $1" >&2
	return 1
}

# daemon NAME [--set k=v...]: start tracespoold on $TMP/NAME; sets DPID, DSOCK.
daemon() {
	local name=$1
	shift
	DSOCK=$TMP/$name.sock
	"$TSD" -c /dev/null --set "socket=$DSOCK" --set "spool_dir=$TMP/$name" \
		--set spool_max_bytes=8G --set sync=full --set log_level=warn \
		--set upstream_url=http://127.0.0.1:9 "$@" >>"$TMP/$name.log" 2>&1 &
	DPID=$!
	PIDS+=("$DPID")
	wait_sock "$DSOCK"
}

stat_of() {
	curl -s --max-time 5 --unix-socket "$DSOCK" http://ts/stats | jq -r ".$1"
}

machine() {
	local dev fs rot
	dev=$(df --output=source "$TMP" | tail -1)
	fs=$(df --output=fstype "$TMP" | tail -1)
	rot=$(cat "/sys/class/block/$(basename "$dev")/queue/rotational" 2>/dev/null || echo '?')
	echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
		"$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM"
	echo "disk: $dev ($fs, rotational=$rot) for $TMP"
	echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
	ps -eo pcpu=,comm= --sort=-pcpu | awk '$1 >= 20 {printf "busy: %s at %s%% CPU\n", $2, $1}' | head -3
}

# Other work on the machine skews every figure: say how much there was.
contention() {
	local others
	others=$(ps -eo pid=,pcpu=,comm= --sort=-pcpu |
		awk -v me=$$ '$2 >= 20 && $1 != me {printf "%s%s (%s%%)", sep, $3, $2; sep=", "}')
	[ -r /proc/pressure/cpu ] &&
		echo "CPU pressure over the last minute: $(sed -n 's/^some avg10=[0-9.]* avg60=\([0-9.]*\).*/\1/p' /proc/pressure/cpu)% (some)"
	if [ -n "$others" ]; then
		echo "WARNING: other processes were busy at the end of the run: $others; the figures are not representative"
	fi
}

ensure_nginx() {
	command -v nginx >/dev/null && return 0
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		log "installing nginx for its no-op ceiling"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null 2>&1 ||
			{ apt-get update -qq >/dev/null 2>&1 &&
				DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null 2>&1; }
	fi
	command -v nginx >/dev/null
}

# nginx answering 200 without work on $TMP/ngx/nginx.sock, as a child.
start_nginx() {
	local d=$TMP/ngx
	mkdir -p "$d/logs"
	cat >"$d/nginx.conf" <<EOF
daemon off;
worker_processes auto;
pid $d/nginx.pid;
error_log $d/error.log error;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $d/body;
	proxy_temp_path $d/proxy;
	fastcgi_temp_path $d/fastcgi;
	uwsgi_temp_path $d/uwsgi;
	scgi_temp_path $d/scgi;
	keepalive_requests 1000000000;
	keepalive_timeout 600s;
	server {
		listen unix:$d/nginx.sock;
		location / {
			default_type application/json;
			return 200 '{"success":true}';
		}
	}
}
EOF
	nginx -e "$d/error.log" -p "$d" -c "$d/nginx.conf" &
	NPID=$!
	PIDS+=("$NPID")
	wait_sock "$d/nginx.sock"
}

MACHINE=$(machine)
echo "$MACHINE" >&2
log "ceilings"

res=$("$PROBE" -d "$TMP/lmdb" -s "$SECS" -g 256 -e "$EVENT")
result "$res"
LMDB_EPS=$(jq -r .eps <<<"$res")
rm -rf "$TMP/lmdb"
# The disk's own tail: commits of 8 events, what 10,000 events/s makes.
res=$("$PROBE" -d "$TMP/lmdb" -s 3 -g 8 -e "$EVENT")
result "$res"
LMDB8_P99=$(jq -r .commit_ms.p99 <<<"$res")
rm -rf "$TMP/lmdb"

"$NOOP" -u "$TMP/noop.sock" &
NOOP_PID=$!
PIDS+=("$NOOP_PID")
wait_sock "$TMP/noop.sock"
res=$("$LG" -u "$TMP/noop.sock" -c 64 -d "$SECS" -w $WARM -e "$EVENT" -l evhttp_noop)
result "$res"
EVHTTP_RPS=$(jq -r .rps <<<"$res")
stop "$NOOP_PID"

NGINX_RPS=
if ensure_nginx && start_nginx; then
	res=$("$LG" -u "$TMP/ngx/nginx.sock" -c 64 -d "$SECS" -w $WARM -e "$EVENT" -l nginx_noop)
	result "$res"
	NGINX_RPS=$(jq -r .rps <<<"$res")
	stop "$NPID"
else
	log "nginx not available: no nginx ceiling"
fi

log "tracespool ingest"
daemon single
res=$("$LG" -u "$DSOCK" -c 64 -d "$SECS" -w $WARM -e "$EVENT" -P "$DPID" -l single)
result "$res"
SINGLE_RPS=$(jq -r .rps <<<"$res")
SINGLE_RSS=$(jq -r .mem_kb.rss <<<"$res")
SINGLE_ANON=$(jq -r .mem_kb.anon <<<"$res")
stop "$DPID"
rm -rf "$TMP/single"

daemon batch
res=$("$LG" -u "$DSOCK" -c "$BCONNS" -b 100 -d "$SECS" -w $WARM -e "$EVENT" -P "$DPID" -l batch100)
result "$res"
BATCH_EPS=$(jq -r .eps <<<"$res")
BATCH_RSS=$(jq -r .mem_kb.rss <<<"$res")
BATCH_ANON=$(jq -r .mem_kb.anon <<<"$res")
stop "$DPID"
rm -rf "$TMP/batch"

daemon open
res=$("$LG" -u "$DSOCK" -c 64 -r 10000 -d "$SECS" -w $WARM -e "$EVENT" -P "$DPID" -l open10k)
result "$res"
OPEN_P99=$(jq -r .lat_us.p99 <<<"$res")
OPEN_EPS=$(jq -r .eps <<<"$res")
stop "$DPID"
rm -rf "$TMP/open"

log "OTLP: exports of 100 spans (protobuf) and single small exports"
GEN=$BUILD/tests/otlp_gen
"$GEN" -n 100 -s 7 >"$TMP/export100.pb"
"$GEN" -n 1 -s 8 >"$TMP/export1.pb"
OTLP_BYTES=$(stat -c %s "$TMP/export100.pb")
res=$("$PROBE" -d "$TMP/lmdb" -s "$SECS" -g 16 -r "$TMP/export100.pb")
result "$res"
LMDB_BPS=$(jq -r .bytes_per_s <<<"$res")
rm -rf "$TMP/lmdb"
daemon otlp
res=$("$LG" -u "$DSOCK" -c "$BCONNS" -o "$TMP/export100.pb" -k 100 -d "$SECS" -w $WARM -P "$DPID" -l otlp100)
result "$res"
OTLP_SPS=$(jq -r .eps <<<"$res")
OTLP_BPS=$(calc "$(jq -r .rps <<<"$res") * $OTLP_BYTES")
stop "$DPID"
rm -rf "$TMP/otlp"
daemon otlp1
res=$("$LG" -u "$DSOCK" -c 64 -o "$TMP/export1.pb" -k 1 -d "$SECS" -w $WARM -P "$DPID" -l otlp1)
result "$res"
OTLP1_RPS=$(jq -r .rps <<<"$res")
stop "$DPID"
rm -rf "$TMP/otlp1"

log "redaction: five typical rules, batches of 100, no match and one match an event"
printf '%s\n' \
	'user-email  field:metadata.user_email  value   hash' \
	'emails      *                          email   mask' \
	'cards       *                          card    mask' \
	'keys        *                          apikey  mask' \
	'tokens      *                          bearer  mask' >"$TMP/redact.rules"
printf 'bench-secret' >"$TMP/hash.key"
jq -c '.inputs.question = "reach me at jane.doe@example.com"' "$EVENT" >"$TMP/event_email.json"
daemon redact0 --set "redact_rules=$TMP/redact.rules" --set "redact_hash_key_file=$TMP/hash.key"
res=$("$LG" -u "$DSOCK" -c "$BCONNS" -b 100 -d "$SECS" -w $WARM -e "$EVENT" -l redact_nomatch)
result "$res"
RED0_EPS=$(jq -r .eps <<<"$res")
stop "$DPID"
rm -rf "$TMP/redact0"
daemon redact1 --set "redact_rules=$TMP/redact.rules" --set "redact_hash_key_file=$TMP/hash.key"
res=$("$LG" -u "$DSOCK" -c "$BCONNS" -b 100 -d "$SECS" -w $WARM -e "$TMP/event_email.json" -l redact_onematch)
result "$res"
RED1_EPS=$(jq -r .eps <<<"$res")
red1_seen=$(stat_of 'redactions.emails')
stop "$DPID"
rm -rf "$TMP/redact1"
[ "${red1_seen:-0}" -gt 0 ] || log "WARNING: the one-match run matched nothing"

log "memory: the same load on a spool of 1,000 and of $BIG events"
# mem_json PID: its VmRSS, VmHWM, RssAnon and RssFile in KiB.
mem_json() {
	awk '/^VmRSS/ {r=$2} /^VmHWM/ {h=$2} /^RssAnon/ {a=$2} /^RssFile/ {f=$2}
		END {printf "{\"mem_kb\":{\"rss\":%d,\"hwm\":%d,\"anon\":%d,\"file\":%d}}\n", r, h, a, f}' \
		"/proc/$1/status"
}

# mem_run NAME N: a spool of N events, then 3 s of batch load on it.
mem_run() {
	local name=$1 n=$2
	"$PROBE" -d "$TMP/$name" -f "$n" -e "$EVENT" >/dev/null || return 1
	daemon "$name"
	"$LG" -u "$DSOCK" -c "$BCONNS" -b 100 -d 3 -e "$EVENT" -l "mem_$name" >/dev/null
	res=$(mem_json "$DPID" | jq -c --arg l "mem_$name" --argjson n "$n" '{label: $l, spool_events: $n} + .')
	result "$res"
	stop "$DPID"
}
mem_run small 1000
SMALL_HWM=$(jq -r .mem_kb.hwm <<<"$res")
SMALL_ANON=$(jq -r .mem_kb.anon <<<"$res")
rm -rf "$TMP/small"
mem_run big "$BIG"
BIG_HWM=$(jq -r .mem_kb.hwm <<<"$res")
BIG_ANON=$(jq -r .mem_kb.anon <<<"$res")

log "forwarding: drain $BIG events into the sink while 10,000 events/s arrive"
coproc SINKP { exec "$SINK" -p 0; }
# shellcheck disable=SC2153 # set by coproc
SINK_PID=$SINKP_PID
PIDS+=("$SINK_PID")
read -r -t 10 line <&"${SINKP[0]}"
SINK_PORT=${line#port=}
t0=$(date +%s.%N)
TRACESPOOL_API_KEY=bench daemon big --set "upstream_url=http://127.0.0.1:$SINK_PORT"
"$LG" -u "$DSOCK" -c 64 -r 10000 -d 60 -e "$EVENT" -P "$DPID" -l drain_ingest >"$TMP/drain_ingest.json" &
LGPID=$!
PIDS+=("$LGPID")
# Forwarded: the sink has acknowledged the first $BIG; drained: their
# deletes are committed too (the spool holds no more than a second of the
# ongoing ingest).
FWD_S=
DRAIN_S=
fwd=0
while :; do
	st=$(curl -s --max-time 5 --unix-socket "$DSOCK" http://ts/stats)
	now=$(date +%s.%N)
	fwd=$(jq -r .events_forwarded <<<"$st")
	left=$(jq -r .spool_events <<<"$st")
	if [ -z "$FWD_S" ] && [ "${fwd:-0}" -ge "$BIG" ]; then
		FWD_S=$(calc "$now - $t0")
	fi
	if [ -n "$FWD_S" ] && [ "${left:-$BIG}" -le 10000 ]; then
		DRAIN_S=$(calc "$now - $t0")
		break
	fi
	if is "$now - $t0 > 60"; then
		break
	fi
	sleep 0.1
done
DRAIN_MEM=$(mem_json "$DPID")
DRAIN_HWM=$(jq -r .mem_kb.hwm <<<"$DRAIN_MEM")
DRAIN_ANON=$(jq -r .mem_kb.anon <<<"$DRAIN_MEM")
stop "$LGPID"
result "$(cat "$TMP/drain_ingest.json")"
stop "$DPID"
kill "$SINK_PID" 2>/dev/null
wait "$SINK_PID" 2>/dev/null
FWD_EPS=$(calc "${fwd:-0} / ${FWD_S:-60}")
[ -n "$FWD_S" ] && FWD_EPS=$(calc "$BIG / $FWD_S")
DRAIN_EPS=0
[ -n "$DRAIN_S" ] && DRAIN_EPS=$(calc "$BIG / $DRAIN_S")
DRAIN_P99=$(jq -r .lat_us.p99 "$TMP/drain_ingest.json" 2>/dev/null)
result "{\"label\":\"drain\",\"events\":$BIG,\"forwarded_s\":${FWD_S:-null},\"drained_s\":${DRAIN_S:-null},\"forward_eps\":$(printf '%.0f' "$FWD_EPS"),\"drain_eps\":$(printf '%.0f' "$DRAIN_EPS"),\"mem_kb\":{\"hwm\":${DRAIN_HWM:-0},\"anon\":${DRAIN_ANON:-0}}}"

log "draining through an upstream 20, 100 and 200 ms away (bench/drain.sh)"
BUILD=$BUILD bench/drain.sh >"$TMP/drain.table"
DRAIN_TABLE=$(cat "$TMP/drain.table")
cat "$BUILD/bench/drain.jsonl" >>"$OUT" 2>/dev/null

# The table.
ratio() { [ -n "$2" ] && [ "$2" != 0 ] && printf '%.2f' "$(calc "$1 / $2")" || echo -; }
verdict() { is "$1" && echo yes || echo NO; }
mb() { printf '%.1f' "$(calc "$1 / 1024")"; }

echo
echo "$MACHINE"
echo "sync = full; event $(jq -r 'select(.event_bytes) | .event_bytes' "$OUT" | head -1) bytes; ${SECS}s per run; load generator on the same machine"
echo
printf '%-44s %12s %12s %7s %-10s %s\n' "measure" "tracespool" "ceiling" "ratio" "target" "met"
row() { printf '%-44s %12s %12s %7s %-10s %s\n' "$@"; }
r=$(ratio "$SINGLE_RPS" "$EVHTTP_RPS")
row "single POST, 64 conns (req/s) vs evhttp" "$SINGLE_RPS" "$EVHTTP_RPS" "$r" ">= 0.85" "$(verdict "$r >= 0.85")"
if [ -n "$NGINX_RPS" ]; then
	r=$(ratio "$SINGLE_RPS" "$NGINX_RPS")
	row "single POST, 64 conns (req/s) vs nginx" "$SINGLE_RPS" "$NGINX_RPS" "$r" ">= 0.6" "$(verdict "$r >= 0.6")"
fi
r=$(ratio "$BATCH_EPS" "$LMDB_EPS")
row "batch 100, $BCONNS conns (events/s) vs LMDB" "$BATCH_EPS" "$LMDB_EPS" "$r" ">= 0.9" "$(verdict "$r >= 0.9")"
r=$(ratio "$OTLP_BPS" "$LMDB_BPS")
row "OTLP 100-span exports, $BCONNS conns (MB/s) vs LMDB" "$(printf '%.1f' "$(calc "$OTLP_BPS / 1048576")")" \
	"$(printf '%.1f' "$(calc "$LMDB_BPS / 1048576")")" "$r" ">= 0.8" "$(verdict "$r >= 0.8")"
row "... the same in spans/s ($(printf '%.0f' "$(calc "$OTLP_BYTES / 1024")") KB an export)" "$(printf '%.0f' "$OTLP_SPS")" "-" "-" "-" "-"
r=$(ratio "$OTLP1_RPS" "$EVHTTP_RPS")
row "single small export, 64 conns (req/s) vs evhttp" "$OTLP1_RPS" "$EVHTTP_RPS" "$r" "-" "-"
r=$(ratio "$RED0_EPS" "$BATCH_EPS")
row "5 redaction rules, no match (ev/s) vs none" "$RED0_EPS" "$BATCH_EPS" "$r" ">= 0.85" "$(verdict "$r >= 0.85")"
r=$(ratio "$RED1_EPS" "$BATCH_EPS")
row "5 redaction rules, 1 match an event (ev/s)" "$RED1_EPS" "$BATCH_EPS" "$r" ">= 0.7" "$(verdict "$r >= 0.7")"
row "p99 ack at 10k events/s (ms) vs LMDB commit" "$(printf '%.2f' "$(calc "$OPEN_P99 / 1000")")" "$LMDB8_P99" \
	"$(ratio "$(calc "$OPEN_P99 / 1000")" "$LMDB8_P99")" "< 3" \
	"$(verdict "$OPEN_P99 < 3000 && $OPEN_EPS >= 9900")"
row "forwarded to the sink, $BIG (events/s)" "$(printf '%.0f' "$FWD_EPS")" "-" "-" ">= 100000" "$(verdict "$FWD_EPS >= 100000")"
row "drained: forwarded and deleted (events/s)" "$(printf '%.0f' "$DRAIN_EPS")" "-" "-" ">= 100000" "$(verdict "$DRAIN_EPS >= 100000")"
row "p99 ack of the 10k/s ingest meanwhile (ms)" "$(printf '%.2f' "$(calc "${DRAIN_P99:-0} / 1000")")" "-" "-" "-" "-"
row "RSS, single POST load (MB; anon)" "$(mb "$SINGLE_RSS")" "$(mb "$SINGLE_ANON")" "-" "< 32" "$(verdict "$SINGLE_RSS < 32768")"
row "RSS, batch load (MB; anon)" "$(mb "$BATCH_RSS")" "$(mb "$BATCH_ANON")" "-" "< 32" "$(verdict "$BATCH_RSS < 32768")"
r=$(ratio "$BIG_HWM" "$SMALL_HWM")
row "VmHWM, spool of $BIG vs 1,000 (MB)" "$(mb "$BIG_HWM")" "$(mb "$SMALL_HWM")" "$r" "flat" "$(verdict "$r <= 1.25")"
r=$(ratio "$BIG_ANON" "$SMALL_ANON")
row "RssAnon, spool of $BIG vs 1,000 (MB)" "$(mb "$BIG_ANON")" "$(mb "$SMALL_ANON")" "$r" "flat" "$(verdict "$r <= 1.25")"
row "VmHWM during the drain (MB; anon)" "$(mb "${DRAIN_HWM:-0}")" "$(mb "${DRAIN_ANON:-0}")" "-" "< 32" "$(verdict "${DRAIN_HWM:-0} < 32768")"
echo "$DRAIN_TABLE"
echo
contention
echo "raw results: $OUT"
