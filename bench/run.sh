#!/usr/bin/env bash
# run.sh: the benchmark set (make bench): ceilings and tracespool in one run, a table on stdout.
#
# Everything runs on this machine, against a spool in a temporary folder
# (on the disk of $TMPDIR, /tmp by default), with sync = full. Each figure
# of tracespool is compared with a ceiling measured in the same run with the
# same load generator and the same event (tests/data/reference_event.json,
# minified, a fresh event_id per event).
#
# Every tracespool ingest run is made twice, each time on a fresh daemon
# and spool: "forwarding", with upstream_url at bench/sink on loopback and
# an API key, so that the forwarder uploads and deletes while the load runs
# (what a real host sees; the verdicts are taken on it), and "idle", with
# upstream_url at a closed port and no key. A forwarding run that got
# nothing to the sink (its /_count, and /stats' events_forwarded plus
# spans_forwarded) is a WARNING. The daemon's CPU (utime + stime from
# /proc/PID/stat) over each run's measured window is kept with the result.
# The runs:
#   - single POST /events, 64 connections, closed loop, against libevent's
#     evhttp and nginx answering 200 without work on a Unix socket;
#   - POST /events/batch of 100, against LMDB appending the same values in
#     transactions of 256 with a sync per commit (bench/lmdb_probe);
#   - 10,000 events/s offered, open loop, 64 connections: the p99 of the
#     acknowledgements, and the CPU per event: the daemon's CPU from the end
#     of the warm-up until, after the load, the forwarder has delivered and
#     deleted everything (the spool is empty; idle: until the load ends),
#     over the events received in that window; against nginx under the
#     same load: its master's and workers' CPU per request, and its p99.
#     Per thread too, told apart by creation order (they are unnamed).
#     The floors beside it: nginx's CPU plus LMDB's own (lmdb_probe, 8
#     events a commit); the no-op's p99 at that rate, alone and with LMDB
#     committing 8-event groups beside it (what the flushes do to every
#     thread on this machine); and the daemon's p99 with sync = normal,
#     where no flush stands between a commit and its answer;
#   - a durable no-op (bench/evhttp_durable: evhttp answering each request
#     after a thread appended its body to LMDB in a group commit, nothing
#     else) under the single POST load and the 10,000/s open loop: the
#     least a server that syncs before it answers does on this machine;
#   - OTLP: exports of 100 spans (protobuf) against LMDB appending the same
#     bytes in transactions of 16, in bytes/s; single small exports against
#     the evhttp no-op;
#   - redaction: batches of 100 with five typical rules loaded, events that
#     match nothing and events with one e-mail address, against no rules;
#   - memory: VmRSS/VmHWM under load, on a spool of 1,000 and of 1,000,000;
#   - forwarding: a spool prefilled with 1,000,000 events drained into
#     bench/sink while 10,000 events/s keep arriving, and the p99 of those;
#   - draining through a slow upstream: 20,000 events through bench/sink
#     answering each request after 20, 100 and 200 ms (bench/drain.sh).
# The sink and the load generator share the machine with the daemon. The
# raw results, one JSON line each (labels NAME_forwarding and NAME_idle for
# the paired runs, with "forwarder", "daemon", "cpu" and "sink"), are kept
# in $BUILD/bench/results.jsonl. About four minutes with the defaults.
#
# Needs jq, curl, pgrep and getconf. Knobs: BENCH_SECONDS (each throughput
# run, default 8), BENCH_SPOOL_EVENTS (the large spool, default 1000000),
# BENCH_BATCH_CONNS (default 16), BENCH_SKIP_DRAIN=1 (leave out
# bench/drain.sh, to iterate on the rest).
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
DURABLE=$BUILD/bench/evhttp_durable
OUT=$BUILD/bench/results.jsonl

. bench/lib.sh
bench_need bench "$TSD" "$LG" "$SINK" "$NOOP" "$PROBE" "$DURABLE" -- jq curl pgrep getconf
bench_tmp bench
: >"$OUT"
HZ=$(getconf CLK_TCK)
WARNINGS=()
# warn TEXT: say it now, and again under the table.
warn() {
	log "WARNING: $*"
	WARNINGS+=("$*")
}

# result LINE: keep one JSON result.
result() {
	echo "$1" >>"$OUT"
	echo "$1" >&2
}

# forget PID: no longer ours to kill at exit.
forget() {
	local q keep=()
	for q in "${PIDS[@]}"; do
		[ "$q" = "$1" ] || keep+=("$q")
	done
	PIDS=("${keep[@]+"${keep[@]}"}")
}

# stop PID: SIGTERM, wait, forget.
stop() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	forget "$1"
}

# reap PID: wait until it ends by itself, forget.
reap() {
	wait "$1" 2>/dev/null
	forget "$1"
}

now() { date +%s.%N; }

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

# stats: the daemon's /stats, one JSON object.
stats() { curl -s --max-time 5 --unix-socket "$DSOCK" http://ts/stats; }

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

# open10k SOCK LABEL [PID...]: loadgen's open loop of 10,000 requests/s
# (64 connections) on SOCK; sets OPEN_RES to its result plus the CPU the
# hypervisor stole and, with PIDs, their CPU (utime + stime) per request,
# both over the window after the warm-up.
open10k() {
	local sock=$1 label=$2 lgpid t0 t1 c0=0 c1=0 sl0 sl1
	shift 2
	"$LG" -u "$sock" -c 64 -r 10000 -d "$SECS" -w $WARM -e "$EVENT" -l "$label" >"$TMP/lg.json" &
	lgpid=$!
	PIDS+=("$lgpid")
	sleep "$WARM"
	t0=$(now)
	[ $# -gt 0 ] && c0=$(bench_cpu_ticks "$@")
	sl0=$(bench_steal)
	reap "$lgpid"
	sl1=$(bench_steal)
	[ $# -gt 0 ] && c1=$(bench_cpu_ticks "$@")
	t1=$(now)
	OPEN_RES=$(jq -c --argjson c "$((c1 - c0))" --argjson hz "$HZ" --argjson procs $# \
		--argjson steal "$(bench_steal_pct "$sl0" "$sl1")" --argjson win "$(calc "$t1 - $t0")" '
		. + {steal_pct: $steal}
		+ (if $procs == 0 then {} else
		  {cpu: {window_s: $win, ticks: $c, clk_tck: $hz, seconds: ($c / $hz), processes: $procs,
		  us_per_request: (if .rps > 0 then $c / $hz * 1e6 / (.rps * $win) else null end)}} end)' \
		"$TMP/lg.json")
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
LMDB8_CPU=$(jq -r .cpu_us_per_event <<<"$res")
rm -rf "$TMP/lmdb"

"$NOOP" -u "$TMP/noop.sock" &
NOOP_PID=$!
PIDS+=("$NOOP_PID")
wait_sock "$TMP/noop.sock"
res=$("$LG" -u "$TMP/noop.sock" -c 64 -d "$SECS" -w $WARM -e "$EVENT" -l evhttp_noop)
result "$res"
EVHTTP_RPS=$(jq -r .rps <<<"$res")
# The floor of a server that syncs before it answers, on this machine: the
# no-op at 10,000 requests/s, alone and then with LMDB committing 8-event
# groups beside it (what 10,000 events/s make the daemon do). The no-op
# touches no disk; what its p99 gains beside the commits is what the
# machine (the hypervisor's share of each flush) does to every thread.
open10k "$TMP/noop.sock" evhttp_open10k
NOOP_OPEN=$OPEN_RES
result "$NOOP_OPEN"
"$PROBE" -d "$TMP/lmdb" -s "$(calc "$SECS + $WARM")" -g 8 -e "$EVENT" >"$TMP/probe_beside.json" &
probe_pid=$!
PIDS+=("$probe_pid")
open10k "$TMP/noop.sock" evhttp_open10k_lmdb_beside
NOOP_SYNC=$OPEN_RES
reap "$probe_pid"
rm -rf "$TMP/lmdb"
NOOP_SYNC=$(jq -c --slurpfile p "$TMP/probe_beside.json" '. + {lmdb_beside: $p[0]}' <<<"$NOOP_SYNC")
result "$NOOP_SYNC"
stop "$NOOP_PID"

# The least a server that syncs before it answers can do here: evhttp
# handing each body to a thread that appends whatever is waiting to one
# LMDB transaction and commits (bench/evhttp_durable): the same single
# POST load, and the same open loop at 10,000/s with its CPU per request.
mkdir -p "$TMP/durable"
"$DURABLE" -u "$TMP/durable.sock" -d "$TMP/durable" &
DUR_PID=$!
PIDS+=("$DUR_PID")
wait_sock "$TMP/durable.sock"
res=$("$LG" -u "$TMP/durable.sock" -c 64 -d "$SECS" -w $WARM -e "$EVENT" -l evhttp_durable)
result "$res"
DURABLE_RPS=$(jq -r .rps <<<"$res")
open10k "$TMP/durable.sock" evhttp_durable_open10k "$DUR_PID"
DURABLE_OPEN=$OPEN_RES
result "$DURABLE_OPEN"
# Two more p99s at that rate: one stall of the host sets a run's p99 (1%
# of 80,000 answers is 800, a tenth of a second of them), so the table
# takes the median of three.
DURABLE_P99S=$(jq -r '.lat_us.p99' <<<"$DURABLE_OPEN")
for i in 2 3; do
	res=$("$LG" -u "$TMP/durable.sock" -c 64 -r 10000 -d "$SECS" -w $WARM -e "$EVENT" -l "evhttp_durable_open10k_$i")
	result "$res"
	DURABLE_P99S+=" $(jq -r '.lat_us.p99' <<<"$res")"
done
stop "$DUR_PID"
rm -rf "${TMP:?}/durable"

NGINX_RPS=
NGINX_OPEN=
if ensure_nginx && start_nginx; then
	res=$("$LG" -u "$TMP/ngx/nginx.sock" -c 64 -d "$SECS" -w $WARM -e "$EVENT" -l nginx_noop)
	result "$res"
	NGINX_RPS=$(jq -r .rps <<<"$res")
	# The open loop of tracespool's CPU row, at the same rate: the CPU of
	# the master and its workers per request, and the p99 at that rate.
	mapfile -t NGX_PROCS < <(echo "$NPID"; pgrep -P "$NPID")
	open10k "$TMP/ngx/nginx.sock" nginx_open10k "${NGX_PROCS[@]}"
	NGINX_OPEN=$OPEN_RES
	result "$NGINX_OPEN"
	stop "$NPID"
else
	log "nginx not available: no nginx ceiling"
fi


log "tracespool ingest: each run with the forwarder draining into the sink, then idle"
# One sink for the whole run, on loopback TCP: each forwarding run reads
# its /_count before and after, so that a run that forwarded nothing shows.
coproc SINKP { exec "$SINK" -p 0; }
# shellcheck disable=SC2153 # set by coproc
SINK_PID=$SINKP_PID
PIDS+=("$SINK_PID")
read -r -t 10 line <&"${SINKP[0]}"
SINK_PORT=${line#port=}
sink_count() { curl -s --max-time 5 "http://127.0.0.1:$SINK_PORT/_count"; }
[ -n "$(sink_count)" ] || {
	echo "bench: the sink does not answer" >&2
	exit 1
}

# measure MODE NAME [--tail] [--set k=v...] -- LOADGEN_ARGS...: one run of
# loadgen (-d $SECS -w $WARM) on a fresh daemon and spool, $TMP/NAME_MODE.
# MODE forwarding: upstream_url is the sink and there is a key, so the
# forwarder uploads and deletes while the load runs; idle: upstream_url is
# a closed port and there is no key, so it only waits. The daemon's CPU
# (utime + stime) and /stats are read when the warm-up ends and when
# loadgen is done; with --tail (forwarding), once more when the forwarder
# has emptied the spool (at most 30 s later), so that the CPU of
# forwarding and deleting what the window took in is counted too. Sets RES
# to loadgen's line plus "forwarder", "daemon" (counter deltas over the
# window), "cpu" and, forwarding, "sink" (what it received meanwhile).
measure() {
	local mode=$1 name=$2_$1 tail='' dargs=() lgpid s0 s1 st0 st1 st2 c0 c2 k0 k2 t0 t1 t2 left sl0 sl1
	shift 2
	[ "${1:-}" = --tail ] && tail=1 && shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		dargs+=("$1")
		shift
	done
	shift
	if [ "$mode" = forwarding ]; then
		s0=$(sink_count)
		TRACESPOOL_API_KEY=bench daemon "$name" "${dargs[@]+"${dargs[@]}"}" \
			--set "upstream_url=http://127.0.0.1:$SINK_PORT"
	else
		daemon "$name" "${dargs[@]+"${dargs[@]}"}"
	fi
	"$LG" -u "$DSOCK" "$@" -d "$SECS" -w "$WARM" -P "$DPID" -l "$name" >"$TMP/lg.json" &
	lgpid=$!
	PIDS+=("$lgpid")
	sleep "$WARM"
	st0=$(stats)
	c0=$(bench_cpu_ticks "$DPID")
	k0=$(bench_thread_ticks "$DPID")
	t0=$(now)
	sl0=$(bench_steal)
	reap "$lgpid"
	sl1=$(bench_steal)
	t1=$(now)
	st1=$(stats)
	if [ -n "$tail" ]; then
		while :; do
			left=$(jq -r .spool_events <<<"$st1")
			[ "${left:-1}" = 0 ] && break
			is "$(now) - $t1 < 30" || break
			sleep 0.05
			st1=$(stats)
		done
		[ "${left:-1}" = 0 ] || warn "$name: ${left:-?} events still spooled 30 s after the load"
	fi
	c2=$(bench_cpu_ticks "$DPID")
	k2=$(bench_thread_ticks "$DPID")
	t2=$(now)
	st2=$st1
	[ "$mode" = forwarding ] && s1=$(sink_count)
	stop "$DPID"
	rm -rf "${TMP:?}/$name"
	RES=$(jq -c --arg mode "$mode" --argjson st0 "${st0:-null}" --argjson st2 "${st2:-null}" \
		--argjson s0 "${s0:-null}" --argjson s1 "${s1:-null}" \
		--argjson c "$((c2 - c0))" --argjson hz "$HZ" --argjson k0 "$k0" --argjson k2 "$k2" \
		--argjson load "$(calc "$t1 - $t0")" --argjson win "$(calc "$t2 - $t0")" \
		--argjson steal "$(bench_steal_pct "$sl0" "$sl1")" '
		def n(f): (f // 0);
		def got(s): n(s.events_received) + n(s.spans_received);
		def fwd(s): n(s.events_forwarded) + n(s.spans_forwarded);
		(got($st2) - got($st0)) as $in |
		. + {forwarder: $mode, steal_pct: $steal,
		  daemon: {received: $in, forwarded: (fwd($st2) - fwd($st0)),
		    spool_events_after: n($st2.spool_events), load_s: $load,
		    redactions: ($st2.redactions // {})},
		  cpu: {window_s: $win, ticks: $c, clk_tck: $hz, seconds: ($c / $hz),
		    us_per_event: (if $in > 0 then $c / $hz * 1e6 / $in else null end),
		    threads_us_per_event: (if $in > 0 then
		      [$k2 | to_entries[] | select($k0[.key] != null)
		       | {tid: (.key | tonumber), t: (.value - $k0[.key])}]
		      | sort_by(.tid) | map(.t / $hz * 1e6 / $in) else null end)}}
		+ (if $s1 == null then {} else
		  {sink: {events: ($s1.events - $s0.events), requests: ($s1.requests - $s0.requests)}} end)' \
		"$TMP/lg.json")
	[ -n "$RES" ] || RES="{\"label\":\"$name\",\"forwarder\":\"$mode\",\"error\":\"no result\"}"
	result "$RES"
	if [ "$mode" = forwarding ] &&
		! jq -e '.sink.requests > 0 and .daemon.forwarded > 0' <<<"$RES" >/dev/null; then
		warn "$name: the sink received nothing while the forwarder was to drain"
	fi
}

# pair NAME [--tail] [--set k=v...] -- LOADGEN_ARGS...: the same run
# forwarding, then idle; keeps the two results in R[NAME.forwarding] and
# R[NAME.idle].
declare -A R
pair() {
	local name=$1
	shift
	measure forwarding "$name" "$@"
	R[$name.forwarding]=$RES
	[ "${1:-}" = --tail ] && shift
	measure idle "$name" "$@"
	R[$name.idle]=$RES
}

# get NAME.MODE JQ: a figure of a kept result ("-" when missing).
get() {
	local v
	v=$(jq -r "$2 // empty" <<<"${R[$1]:-null}" 2>/dev/null)
	echo "${v:--}"
}

pair single -- -c 64 -e "$EVENT"
pair batch -- -c "$BCONNS" -b 100 -e "$EVENT"
# The CPU of ingest, spool, forward and delete at 10,000 events/s offered,
# and the acknowledgement latency at that rate.
pair open --tail -- -c 64 -r 10000 -e "$EVENT"
# The same rate with sync = normal (no flush between a commit and its
# answer; one every sync_interval): the latency of the daemon's own
# pipeline, apart from the disk and what the flushes cost the machine.
measure forwarding open_normal --tail --set sync=normal -- -c 64 -r 10000 -e "$EVENT"
R[open_normal.forwarding]=$RES
# Two more forwarding runs at 10,000/s for the median p99 (see the
# durable no-op's).
OPEN_P99S=$(get open.forwarding .lat_us.p99)
for i in 2 3; do
	measure forwarding "open$i" -- -c 64 -r 10000 -e "$EVENT"
	OPEN_P99S+=" $(jq -r '.lat_us.p99 // "-"' <<<"$RES")"
done

log "OTLP: exports of 100 spans (protobuf) and single small exports"
GEN=$BUILD/tests/otlp_gen
"$GEN" -n 100 -s 7 >"$TMP/export100.pb"
"$GEN" -n 1 -s 8 >"$TMP/export1.pb"
OTLP_BYTES=$(stat -c %s "$TMP/export100.pb")
res=$("$PROBE" -d "$TMP/lmdb" -s "$SECS" -g 16 -r "$TMP/export100.pb")
result "$res"
LMDB_BPS=$(jq -r .bytes_per_s <<<"$res")
rm -rf "$TMP/lmdb"
pair otlp100 -- -c "$BCONNS" -o "$TMP/export100.pb" -k 100
pair otlp1 -- -c 64 -o "$TMP/export1.pb" -k 1

log "redaction: five typical rules, batches of 100, no match and one match an event"
printf '%s\n' \
	'user-email  field:metadata.user_email  value   hash' \
	'emails      *                          email   mask' \
	'cards       *                          card    mask' \
	'keys        *                          apikey  mask' \
	'tokens      *                          bearer  mask' >"$TMP/redact.rules"
printf 'bench-secret' >"$TMP/hash.key"
jq -c '.inputs.question = "reach me at jane.doe@example.com"' "$EVENT" >"$TMP/event_email.json"
RULES=(--set "redact_rules=$TMP/redact.rules" --set "redact_hash_key_file=$TMP/hash.key")
pair redact0 "${RULES[@]}" -- -c "$BCONNS" -b 100 -e "$EVENT"
pair redact1 "${RULES[@]}" -- -c "$BCONNS" -b 100 -e "$TMP/event_email.json"
for m in forwarding idle; do
	[ "$(get "redact1.$m" .daemon.redactions.emails)" -gt 0 ] 2>/dev/null ||
		warn "redact1_$m: the one-match run matched nothing"
done

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
t0=$(now)
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
sl0=$(bench_steal)
while :; do
	st=$(curl -s --max-time 5 --unix-socket "$DSOCK" http://ts/stats)
	t=$(now)
	fwd=$(jq -r .events_forwarded <<<"$st")
	left=$(jq -r .spool_events <<<"$st")
	if [ -z "$FWD_S" ] && [ "${fwd:-0}" -ge "$BIG" ]; then
		FWD_S=$(calc "$t - $t0")
	fi
	if [ -n "$FWD_S" ] && [ "${left:-$BIG}" -le 10000 ]; then
		DRAIN_S=$(calc "$t - $t0")
		break
	fi
	if is "$t - $t0 > 60"; then
		break
	fi
	sleep 0.1
done
DRAIN_STEAL=$(bench_steal_pct "$sl0" "$(bench_steal)")
DRAIN_MEM=$(mem_json "$DPID")
DRAIN_HWM=$(jq -r .mem_kb.hwm <<<"$DRAIN_MEM")
DRAIN_ANON=$(jq -r .mem_kb.anon <<<"$DRAIN_MEM")
stop "$LGPID"
result "$(cat "$TMP/drain_ingest.json")"
stop "$DPID"
stop "$SINK_PID"
FWD_EPS=$(calc "${fwd:-0} / ${FWD_S:-60}")
[ -n "$FWD_S" ] && FWD_EPS=$(calc "$BIG / $FWD_S")
DRAIN_EPS=0
[ -n "$DRAIN_S" ] && DRAIN_EPS=$(calc "$BIG / $DRAIN_S")
DRAIN_P99=$(jq -r .lat_us.p99 "$TMP/drain_ingest.json" 2>/dev/null)
result "{\"label\":\"drain\",\"events\":$BIG,\"forwarded_s\":${FWD_S:-null},\"drained_s\":${DRAIN_S:-null},\"forward_eps\":$(printf '%.0f' "$FWD_EPS"),\"drain_eps\":$(printf '%.0f' "$DRAIN_EPS"),\"steal_pct\":$DRAIN_STEAL,\"mem_kb\":{\"hwm\":${DRAIN_HWM:-0},\"anon\":${DRAIN_ANON:-0}}}"

DRAIN_TABLE=
if [ -z "${BENCH_SKIP_DRAIN:-}" ]; then
	log "draining through an upstream 20, 100 and 200 ms away (bench/drain.sh)"
	BUILD=$BUILD bench/drain.sh >"$TMP/drain.table"
	DRAIN_TABLE=$(cat "$TMP/drain.table")
	cat "$BUILD/bench/drain.jsonl" >>"$OUT" 2>/dev/null
else
	log "BENCH_SKIP_DRAIN: bench/drain.sh left out"
fi


# The table: each tracespool figure with the forwarder draining into the
# sink ("forwarding", what a real host sees, and what the verdict is taken
# on) and with it idle; the ratio is of the forwarding figure.
ratio() { [ -n "$2" ] && [ "$1" != - ] && [ "$2" != - ] && [ "$2" != 0 ] && printf '%.2f' "$(calc "$1 / $2")" || echo -; }
verdict() { is "$1" && echo yes || echo NO; }
# met EXPR...: the verdict, or "-" when a figure is missing.
met() {
	case "$*" in *-*) echo - ;; *) verdict "$*" ;; esac
}
mb() { [ "$1" = - ] && echo - || printf '%.1f' "$(calc "$1 / 1024")"; }
# fmt PRINTF_FORMAT VALUE: the value formatted, or "-".
fmt() {
	if [ "$2" = - ]; then
		echo -
	else
		# shellcheck disable=SC2059 # the format is the caller's
		printf "$1" "$2"
	fi
}
# div VALUE N: VALUE / N, or "-".
div() { if [ "$1" = - ]; then echo -; else calc "$1 / $2"; fi; }
# rss NAME.MODE: "VmRSS (RssAnon)" in MB.
rss() { echo "$(mb "$(get "$1" .mem_kb.rss)") ($(mb "$(get "$1" .mem_kb.anon)"))"; }
# per_thread NAME.MODE: µs of CPU per event of each thread, in the order
# they were created.
# The daemon's threads are unnamed: they are told apart by creation order
# (daemon/main.c starts the commit thread, then the forwarder's).
per_thread() {
	get "$1" '.cpu.threads_us_per_event | if length == 3
		then map(. * 10 | round / 10 | tostring) | join("/") else "\(length) threads?" end'
}

SINGLE_F=$(get single.forwarding .rps)
SINGLE_I=$(get single.idle .rps)
BATCH_F=$(get batch.forwarding .eps)
BATCH_I=$(get batch.idle .eps)
OPEN_F_P99=$(get open.forwarding .lat_us.p99)
OPEN_I_P99=$(get open.idle .lat_us.p99)
OPEN_F_EPS=$(get open.forwarding .eps)
CPU_F=$(get open.forwarding .cpu.us_per_event)
CPU_I=$(get open.idle .cpu.us_per_event)
NGINX_CPU=$(jq -r '.cpu.us_per_request // "-"' <<<"${NGINX_OPEN:-null}")
NGINX_P99=$(jq -r '.lat_us.p99 // "-"' <<<"${NGINX_OPEN:-null}")
NGINX_STEAL=$(jq -r '.steal_pct // "-"' <<<"${NGINX_OPEN:-null}")
OTLP_F=$(get otlp100.forwarding ".rps * $OTLP_BYTES")
OTLP_I=$(get otlp100.idle ".rps * $OTLP_BYTES")
RED0_F=$(get redact0.forwarding .eps)
RED1_F=$(get redact1.forwarding .eps)
ms() { fmt %.2f "$(div "$1" 1000)"; }
# median "A B C": the middle of the figures ("-" when one is missing).
median() {
	case " $1 " in *" - "* | "  ") echo - ;; *) tr ' ' '\n' <<<"$1" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}' ;; esac
}
# ms_list "A B C": each in ms, joined by "/".
ms_list() {
	local v out=
	for v in $1; do out+="${out:+/}$(fmt %.1f "$(div "$v" 1000)")"; done
	echo "$out"
}
OPEN_N_P99=$(get open_normal.forwarding .lat_us.p99)
NOOP_P99=$(jq -r '.lat_us.p99 // "-"' <<<"${NOOP_OPEN:-null}")
NOOP_STEAL=$(jq -r '.steal_pct // "-"' <<<"${NOOP_OPEN:-null}")
NOOP_SYNC_P99=$(jq -r '.lat_us.p99 // "-"' <<<"${NOOP_SYNC:-null}")
NOOP_SYNC_STEAL=$(jq -r '.steal_pct // "-"' <<<"${NOOP_SYNC:-null}")
DURABLE_CPU=$(jq -r '.cpu.us_per_request // "-"' <<<"${DURABLE_OPEN:-null}")
CPU_FLOOR=-
[ "$NGINX_CPU" != - ] && [ -n "${LMDB8_CPU:-}" ] && CPU_FLOOR=$(calc "$NGINX_CPU + $LMDB8_CPU")
MiB() { fmt %.1f "$(div "$1" 1048576)"; }

echo
echo "$MACHINE"
echo "sync = full; event $(jq -r 'select(.event_bytes) | .event_bytes' "$OUT" | head -1) bytes; ${SECS}s per run; load generator and sink on the same machine"
echo "forwarding: upstream_url is bench/sink on loopback, the forwarder uploads and deletes during the run; idle: nothing listens upstream"
echo
row() { printf '%-52s %14s %14s %9s %6s %-9s %s\n' "$@"; }
row "measure" "forwarding" "idle" "ceiling" "ratio" "target" "met"
r=$(ratio "$SINGLE_F" "$EVHTTP_RPS")
row "single POST, 64 conns (req/s) vs evhttp" "$SINGLE_F" "$SINGLE_I" "$EVHTTP_RPS" "$r" ">= 0.85" "$(met "$r >= 0.85")"
r=$(ratio "$SINGLE_F" "$DURABLE_RPS")
row "... vs evhttp + LMDB group commit (a durable no-op)" "$SINGLE_F" "$SINGLE_I" "$DURABLE_RPS" "$r" "-" "-"
if [ -n "$NGINX_RPS" ]; then
	r=$(ratio "$SINGLE_F" "$NGINX_RPS")
	row "single POST, 64 conns (req/s) vs nginx" "$SINGLE_F" "$SINGLE_I" "$NGINX_RPS" "$r" "(>= 0.6)" "$(met "$r >= 0.6")"
fi
r=$(ratio "$BATCH_F" "$LMDB_EPS")
row "batch 100, $BCONNS conns (events/s) vs LMDB" "$BATCH_F" "$BATCH_I" "$LMDB_EPS" "$r" ">= 0.9" "$(met "$r >= 0.9")"
r=$(ratio "$OTLP_F" "$LMDB_BPS")
row "OTLP 100-span exports, $BCONNS conns (MB/s) vs LMDB" "$(MiB "$OTLP_F")" "$(MiB "$OTLP_I")" \
	"$(MiB "$LMDB_BPS")" "$r" ">= 0.8" "$(met "$r >= 0.8")"
row "... the same in spans/s ($(printf '%.0f' "$(calc "$OTLP_BYTES / 1024")") KB an export)" \
	"$(get otlp100.forwarding .eps)" "$(get otlp100.idle .eps)" "-" "-" "-" "-"
row "single small export, 64 conns (req/s) vs evhttp" "$(get otlp1.forwarding .rps)" "$(get otlp1.idle .rps)" \
	"$EVHTTP_RPS" "$(ratio "$(get otlp1.forwarding .rps)" "$EVHTTP_RPS")" "-" "-"
r=$(ratio "$RED0_F" "$BATCH_F")
row "5 redaction rules, no match (ev/s) vs none" "$RED0_F" "$(get redact0.idle .eps)" "$BATCH_F" "$r" ">= 0.85" "$(met "$r >= 0.85")"
r=$(ratio "$RED1_F" "$BATCH_F")
row "5 redaction rules, 1 match an event (ev/s) vs none" "$RED1_F" "$(get redact1.idle .eps)" "$BATCH_F" "$r" ">= 0.7" "$(met "$r >= 0.7")"
r=$(ratio "$CPU_F" "$NGINX_CPU")
row "CPU per event at 10k ev/s (µs) vs nginx per request" "$(fmt %.1f "$CPU_F")" "$(fmt %.1f "$CPU_I")" \
	"$(fmt %.1f "$NGINX_CPU")" "$r" "<= 2" "$(met "$r <= 2")"
row "... by thread: main/commit/forwarder (µs)" "$(per_thread open.forwarding)" "$(per_thread open.idle)" "-" "-" "-" "-"
r=$(ratio "$CPU_F" "$CPU_FLOOR")
row "... vs nginx + LMDB's own CPU in 8-event commits" "$(fmt %.1f "$CPU_F")" "$(fmt %.1f "$CPU_I")" \
	"$(fmt %.1f "$CPU_FLOOR")" "$r" "-" "-"
r=$(ratio "$CPU_F" "$DURABLE_CPU")
row "... vs the durable no-op per request" "$(fmt %.1f "$CPU_F")" "$(fmt %.1f "$CPU_I")" \
	"$(fmt %.1f "$DURABLE_CPU")" "$r" "-" "-"
row "p99 ack at 10k ev/s offered (ms) vs nginx" "$(ms "$OPEN_F_P99")" "$(ms "$OPEN_I_P99")" "$(ms "$NGINX_P99")" \
	"$(ratio "$OPEN_F_P99" "$NGINX_P99")" "(below)" "-"
row "... CPU the hypervisor took meanwhile (steal, %)" "$(get open.forwarding .steal_pct)" \
	"$(get open.idle .steal_pct)" "$NGINX_STEAL" "-" "-" "-"
row "... the disk's floor: p99 of an 8-event commit (ms)" "-" "-" "$LMDB8_P99" "-" "-" "-"
OPEN_MED=$(median "$OPEN_P99S")
DURABLE_MED=$(median "${DURABLE_P99S:--}")
row "... median of 3 runs vs the durable no-op's (ms)" "$(ms "$OPEN_MED")" "-" "$(ms "$DURABLE_MED")" \
	"$(ratio "$OPEN_MED" "$DURABLE_MED")" "< 1" "$(met "$OPEN_MED < 1000 && $OPEN_F_EPS >= 9900")"
row "...   the 3 runs (ms)" "$(ms_list "$OPEN_P99S")" "-" "$(ms_list "${DURABLE_P99S:--}")" "-" "-" "-"
row "... a no-op server's p99 at 10k req/s (ms)" "-" "-" "$(ms "$NOOP_P99")" "-" "-" "-"
row "... the no-op's, LMDB committing beside it (ms)" "$(ms "$OPEN_MED")" "-" "$(ms "$NOOP_SYNC_P99")" \
	"$(ratio "$OPEN_MED" "$NOOP_SYNC_P99")" "-" "-"
row "... steal: the no-op alone, beside LMDB (%)" "-" "-" "$NOOP_STEAL, $NOOP_SYNC_STEAL" "-" "-" "-"
row "p99 ack at 10k ev/s, sync = normal (ms) vs no-op" "$(ms "$OPEN_N_P99")" "-" "$(ms "$NOOP_P99")" \
	"$(ratio "$OPEN_N_P99" "$NOOP_P99")" "(< 1)" "$(met "$OPEN_N_P99 < 1000")"
row "forwarded to the sink, $BIG (events/s)" "$(printf '%.0f' "$FWD_EPS")" "-" "-" "-" ">= 100000" "$(verdict "$FWD_EPS >= 100000")"
row "drained: forwarded and deleted (events/s)" "$(printf '%.0f' "$DRAIN_EPS")" "-" "-" "-" ">= 100000" "$(verdict "$DRAIN_EPS >= 100000")"
row "p99 ack at 10k ev/s while a $BIG backlog drains (ms)" "$(ms "${DRAIN_P99:--}")" "-" "-" "-" "< 5" \
	"$(met "${DRAIN_P99:--} < 5000")"
row "... CPU the hypervisor took meanwhile (steal, %)" "$DRAIN_STEAL" "-" "-" "-" "-" "-"
row "VmRSS (RssAnon), single POST load (MB)" "$(rss single.forwarding)" "$(rss single.idle)" "-" "-" "< 32" \
	"$(met "$(get single.forwarding .mem_kb.rss) < 32768")"
row "VmRSS (RssAnon), batch load (MB)" "$(rss batch.forwarding)" "$(rss batch.idle)" "-" "-" "< 32" \
	"$(met "$(get batch.forwarding .mem_kb.rss) < 32768")"
r=$(ratio "$BIG_HWM" "$SMALL_HWM")
row "VmHWM, spool of $BIG vs 1,000 (MB)" "-" "$(mb "$BIG_HWM")" "$(mb "$SMALL_HWM")" "$r" "flat" "$(met "$r <= 1.25")"
r=$(ratio "$BIG_ANON" "$SMALL_ANON")
row "RssAnon, spool of $BIG vs 1,000 (MB)" "-" "$(mb "$BIG_ANON")" "$(mb "$SMALL_ANON")" "$r" "flat" "$(met "$r <= 1.25")"
row "VmHWM (RssAnon) during the drain (MB)" "$(mb "${DRAIN_HWM:-0}") ($(mb "${DRAIN_ANON:-0}"))" "-" "-" "-" "< 32" \
	"$(verdict "${DRAIN_HWM:-0} < 32768")"
echo "(>= 0.6): a goal, reported, not required. CPU: utime + stime of the daemon from /proc, from the end of the"
echo "warm-up until the forwarder has delivered and deleted what came in (idle: until the load ends), over the"
echo "events received meanwhile; nginx: its master and workers over the same open loop, per request."
[ -n "$DRAIN_TABLE" ] && echo "$DRAIN_TABLE"
echo
for w in "${WARNINGS[@]+"${WARNINGS[@]}"}"; do
	echo "WARNING: $w"
done
contention
echo "raw results: $OUT"
