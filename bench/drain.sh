#!/usr/bin/env bash
# drain.sh: how fast a backlog drains through an upstream that takes time to answer (part of make bench; runs alone too).
#
# For each round trip (DRAIN_RTTS, default 20, 100 and 200 ms) and each
# upload_concurrency (DRAIN_CONCURRENCY, default 8, the default, and 16):
# a spool prefilled with DRAIN_EVENTS events (default 20,000, the reference
# event, as ingest spools them), a daemon started on it with its upstream
# at bench/sink -L RTT (every answer RTT ms after its request, requests
# served side by side), and the time from the daemon's start until the
# sink has accepted every event. batch_max_events is the default 100, so
# the backlog is DRAIN_EVENTS / 100 requests. One JSON line per run goes to
# $BUILD/bench/drain.jsonl (and stderr), then a table on stdout.
#
# Needs jq and curl, and the programs of make bench (bench/sink,
# bench/lmdb_probe) and make (tracespoold).
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.." || exit 1

EVENTS=${DRAIN_EVENTS:-20000}
RTTS=${DRAIN_RTTS:-20 100 200}
CONCS=${DRAIN_CONCURRENCY:-8 16}
EVENT=tests/data/reference_event.json
TSD=$BUILD/tracespoold
SINK=$BUILD/bench/sink
PROBE=$BUILD/bench/lmdb_probe
OUT=$BUILD/bench/drain.jsonl

. bench/lib.sh
bench_need drain "$TSD" "$SINK" "$PROBE" -- jq curl
bench_tmp drain
mkdir -p "$(dirname "$OUT")"
: >"$OUT"

now() { date +%s.%N; }

# run RTT CONC: one drain; prints its JSON line.
run() {
	local rtt=$1 conc=$2 line port t0 t1 got dpid spid st
	rm -rf "$TMP/spool"
	"$PROBE" -d "$TMP/spool" -f "$EVENTS" -e "$EVENT" -m 1024 >/dev/null || return 1
	coproc SINKP { exec "$SINK" -p 0 -L "$rtt"; }
	# shellcheck disable=SC2153 # set by coproc
	spid=$SINKP_PID
	PIDS+=("$spid")
	read -r -t 10 line <&"${SINKP[0]}"
	port=${line#port=}
	t0=$(now)
	TRACESPOOL_API_KEY=bench "$TSD" -c /dev/null --set "socket=$TMP/d.sock" \
		--set "spool_dir=$TMP/spool" --set spool_max_bytes=1G --set log_level=warn \
		--set "upstream_url=http://127.0.0.1:$port" --set "upload_concurrency=$conc" \
		>>"$TMP/daemon.log" 2>&1 &
	dpid=$!
	PIDS+=("$dpid")
	got=0
	for _ in $(seq 1 3000); do
		got=$(curl -s --max-time 2 "http://127.0.0.1:$port/_count" | jq -r .events)
		[ "${got:-0}" -ge "$EVENTS" ] && break
		sleep 0.02
	done
	t1=$(now)
	st=$(curl -s --max-time 2 --unix-socket "$TMP/d.sock" http://ts/stats)
	kill "$dpid" "$spid" 2>/dev/null
	wait "$dpid" "$spid" 2>/dev/null
	PIDS=()
	jq -cn --argjson rtt "$rtt" --argjson conc "$conc" --argjson n "$EVENTS" \
		--argjson got "${got:-0}" --argjson s "$(calc "$t1 - $t0")" --argjson st "${st:-null}" \
		'{label: "drain_rtt", rtt_ms: $rtt, upload_concurrency: $conc, events: $n,
		  accepted: $got, seconds: $s, eps: (if $got >= $n then ($n / $s | floor) else 0 end),
		  concurrency_reached: $st.upload_concurrency, rtt_seen_ms: $st.upstream_rtt_ms}'
}

for rtt in $RTTS; do
	for conc in $CONCS; do
		res=$(run "$rtt" "$conc")
		echo "$res" >>"$OUT"
		echo "$res" >&2
	done
done

echo
printf '%-52s %10s %8s %12s %s\n' "drain of $EVENTS events, 100 a request" "events/s" "seconds" "concurrency" "target"
jq -r '"\(.rtt_ms) \(.upload_concurrency) \(.eps) \(.seconds) \(.concurrency_reached)"' "$OUT" |
	while read -r rtt conc eps secs reached; do
		target=-
		[ "$rtt" = 100 ] && target=">= 8000 $([ "$eps" -ge 8000 ] && echo yes || echo NO)"
		printf '%-52s %10s %8.2f %12s %s\n' "upstream ${rtt} ms a request, upload_concurrency $conc" \
			"$eps" "$secs" "$reached of $conc" "$target"
	done
