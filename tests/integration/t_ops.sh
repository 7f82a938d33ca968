#!/usr/bin/env bash
# t_ops.sh: operating the daemon: SIGTERM loses nothing, SIGHUP reloads, /metrics is Prometheus text that moves.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup

ts_start_upstream || { not_ok "fake upstream starts"; ts_done; }

# --- SIGTERM: stop accepting, answer what is in flight, lose nothing --------
ts_start_daemon || { not_ok "daemon starts"; ts_done; }

# client N: one event per request until the daemon stops answering; the
# acknowledged event ids go to $TMP/acked.N.
client() {
	local n=$1 i=0 out
	: >"$TMP/acked.$n"
	while out=$(curl -s --fail --max-time 20 --unix-socket "$SOCK" \
		-H 'Content-Type: application/json' \
		-d "{\"event\":{\"event_type\":\"chain\",\"event_name\":\"c$n\",\"inputs\":{\"i\":$i}}}" \
		http://ts/events); do
		sed -n 's/.*"event_id":"\([^"]*\)".*/\1/p' <<<"$out" >>"$TMP/acked.$n"
		i=$((i + 1))
	done
}
for n in 1 2 3 4; do
	client "$n" &
	TS_PIDS+=("$!")
	CLIENTS+=("$!")
done
# A slow request: 200 events, about 300 KB, uploaded at 100 KB/s, so that
# it is still arriving when SIGTERM comes.
jq -cn --arg pad "$(head -c 1500 /dev/zero | tr '\0' x)" \
	'{events: [range(0; 200) | {event_type: "tool", event_name: "slow", inputs: {i: ., pad: $pad}}]}' \
	>"$TMP/slow.json"
curl -s --max-time 30 --limit-rate 100k --unix-socket "$SOCK" -o "$TMP/slow.out" \
	-w '%{http_code}' -H 'Content-Type: application/json' \
	--data-binary @"$TMP/slow.json" http://ts/events/batch >"$TMP/slow.code" &
SLOW=$!
TS_PIDS+=("$SLOW")
sleep 1
kill -TERM "$DAEMON_PID"
sleep 0.3
curl -s --max-time 5 --unix-socket "$SOCK" -o /dev/null http://ts/healthz
check_eq "after SIGTERM new connections are refused (curl exit 7)" 7 $?
daemon_gone() { ! kill -0 "$DAEMON_PID" 2>/dev/null; }
check "the daemon exits within 15 s" wait_for 15 daemon_gone
wait "$DAEMON_PID"
check_eq "SIGTERM exits 0" 0 $?
wait "$SLOW"
check_eq "the request in flight at SIGTERM is answered 200" 200 "$(cat "$TMP/slow.code")"
check_eq "... with its 200 event ids" 200 "$(jq '.event_ids | length' "$TMP/slow.out" 2>/dev/null)"
for p in "${CLIENTS[@]}"; do wait "$p"; done
cat "$TMP"/acked.* >"$TMP/acked"
jq -r '.event_ids[]' "$TMP/slow.out" >>"$TMP/acked" 2>/dev/null
spool_dump | jq -r '.event.event_id' | sort -u >"$TMP/spooled"
acked=$(sort -u "$TMP/acked" | wc -l)
check "the clients had events acknowledged before SIGTERM ($acked)" test "$acked" -gt 200
check_eq "every acknowledged event is in the spool" 0 \
	"$(sort -u "$TMP/acked" | comm -23 - "$TMP/spooled" | wc -l)"
check "the log says it stopped cleanly" grep -q 'stopped cleanly' "$DLOG"

# --- SIGHUP: a new log level, a new key, changed keys named ----------------
rm -rf "$SPOOL"
CONF=$TMP/ts.conf
write_conf() {
	cat >"$CONF" <<EOF
socket = $SOCK
spool_dir = $SPOOL
upstream_url = $UPSTREAM_URL
api_key_file = $TMP/key
retry_initial = 100ms
retry_max = ${1:-1s}
flush_interval = 50ms
log_level = ${2:-warn}
spool_max_bytes = ${3:-1G}
${4:-}
EOF
}
write_conf
echo wrong-key >"$TMP/key"
upstream_ctl '{"mode":"auth","key":"good-key"}'
: >"$UPSTREAM_LOG"
: >"$DLOG"
# shellcheck disable=SC2046
$(ts_wrap) "$TSD" -c "$CONF" >>"$DLOG" 2>&1 &
DAEMON_PID=$!
TS_PIDS+=("$DAEMON_PID")
answers() {
	curl -s --max-time 1 --unix-socket "$SOCK" -o /dev/null http://ts/healthz
}
wait_for 10 answers || { not_ok "daemon starts on a configuration file"; ts_done; }
body=$(jq -cn '{events: [range(0; 5) | {event_type: "chain", event_name: "hup", inputs: {i: .}}]}')
req POST /events/batch "$body"
check_eq "5 events accepted with a refused key" 200 "$STATUS"
paused() { [ "$(stat_field forwarder_state)" = paused ]; }
check "the refused key pauses the forwarder" wait_for 10 paused
check_eq "at log_level = warn there are no debug or info lines" 0 \
	"$(grep -c -E '^tracespoold: (debug|info):' "$DLOG")"

write_conf 2s debug 2G
echo good-key >"$TMP/key"
kill -HUP "$DAEMON_PID"
check "SIGHUP logs the new log level" wait_for 5 grep -q 'reload: log_level changed' "$DLOG"
req GET /stats
check "debug lines appear after the reload" \
	wait_for 5 grep -q '^tracespoold: debug: ingest: GET /stats' "$DLOG"
check "a key that needs a restart is reported as such" \
	grep -q 'reload: spool_max_bytes changed; takes effect only after a restart' "$DLOG"
check "a reloadable key is reported as changed" grep -q 'reload: retry_max changed$' "$DLOG"
check_eq "only the changed keys are named" "log_level retry_max spool_max_bytes" \
	"$(sed -n 's/.*reload: \([a-z_]*\) changed.*/\1/p' "$DLOG" | sort | tr '\n' ' ' | sed 's/ $//')"
check_eq "the restart key keeps its running value" 1073741824 "$(stat_field spool_max_bytes)"
forwarded5() { [ "$(stat_field events_forwarded)" = 5 ]; }
check "the new key from SIGHUP delivers the 5 events" wait_for 10 forwarded5
check_eq "no key text in the log" 0 "$(grep -c -E 'wrong-key|good-key' "$DLOG")"

# A configuration with an error is refused whole; the running one stays.
write_conf 2s warn 2G "bogus_key = 1"
kill -HUP "$DAEMON_PID"
check "a bad configuration on SIGHUP is refused" \
	wait_for 5 grep -q 'configuration has errors; keeping the running one' "$DLOG"
check "... naming the bad key" grep -q 'bogus_key' "$DLOG"
lines=$(grep -c '^tracespoold: debug: ingest' "$DLOG")
req GET /healthz
check_eq "the daemon still answers after a refused reload" 200 "$STATUS"
check "... at the running log level (debug)" \
	test "$(grep -c '^tracespoold: debug: ingest' "$DLOG")" -gt "$lines"
write_conf 2s warn 2G
kill -HUP "$DAEMON_PID"
sleep 0.5
lines=$(grep -c '^tracespoold: debug:' "$DLOG")
req GET /healthz
req GET /stats
check_eq "back at warn, requests log nothing" "$lines" "$(grep -c '^tracespoold: debug:' "$DLOG")"
ts_stop_daemon
check_eq "SIGTERM after reloads exits 0" 0 $?

# --- /metrics ----------------------------------------------------------------
rm -rf "$SPOOL"
upstream_ctl '{"mode":"ok"}'
export TRACESPOOL_API_KEY=good-key
ts_start_daemon --set retry_initial=100ms --set retry_max=1s --set flush_interval=50ms ||
	{ not_ok "daemon starts for the metrics"; ts_done; }

# scrape FILE: GET /metrics into FILE (headers in FILE.h).
scrape() {
	curl -s --max-time 5 --unix-socket "$SOCK" -D "$1.h" -o "$1" http://ts/metrics
}
# metric FILE NAME [LABELS]: one sample's value.
metric() {
	awk -v k="$2${3:-}" '$1 == k { print $2 }' "$1"
}
# grew FILE0 FILE1 NAME [LABELS] [BY]: the value rose (by BY when given).
grew() {
	local a b
	a=$(metric "$1" "$3" "${4:-}")
	b=$(metric "$2" "$3" "${4:-}")
	if [ -n "${5:-}" ]; then
		awk -v a="$a" -v b="$b" -v d="$5" 'BEGIN { exit !(a != "" && b - a == d) }'
	else
		awk -v a="$a" -v b="$b" 'BEGIN { exit !(a != "" && b > a) }'
	fi
}
# prom_problems FILE: every line that breaks the text format, or our names.
prom_problems() {
	awk '
	function base(s) { sub(/\{.*/, "", s); return s }
	/^# TYPE / {
		if ($3 in typed) print "TYPE twice: " $0
		if ($3 in sampled) print "TYPE after its samples: " $0
		if ($4 !~ /^(counter|gauge|histogram|summary|untyped)$/) print "bad type: " $0
		typed[$3] = $4
		next
	}
	/^# HELP / { next }
	/^#/ { next }
	{
		# A value is a number, or +Inf, -Inf or NaN (the text format allows them).
		if ($0 !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? ([0-9.eE+-]+|[+-]Inf|NaN)$/) { print "not a sample: " $0; next }
		n = base($1)
		if (n !~ /^tracespool_/) print "not tracespool_*: " $0
		if (!(n in typed)) print "no TYPE before: " $0
		if (typed[n] == "counter" && n !~ /_total$/) print "counter without _total: " $0
		if (match($1, /\{.*\}/)) {
			l = substr($1, RSTART + 1, RLENGTH - 2)
			if (l !~ /^[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*$/) print "bad labels: " $0
		}
		if ($1 in seen) print "sample twice: " $0
		seen[$1] = 1
		sampled[n] = 1
	}' "$1"
}

scrape "$TMP/m0"
check_eq "GET /metrics is served as Prometheus text 0.0.4" 1 \
	"$(grep -ci '^content-type: text/plain; version=0.0.4' "$TMP/m0.h")"
check_eq "/metrics parses as Prometheus text" "" "$(prom_problems "$TMP/m0")"
# The self-check catches what it should.
printf '# TYPE tracespool_x gauge\ntracespool_x 1\nother_y 2\ntracespool_z{a=b} 1\ntracespool_w 1 2\n' >"$TMP/bad"
check_eq "the format check is not vacuous" "other_y 2 tracespool_w 1 2 tracespool_z{a=b} 1" \
	"$(prom_problems "$TMP/bad" | sed 's/^[^:]*: //' | sort -u | tr '\n' ' ' | sed 's/ $//')"
for name in 'tracespool_events_received_total{outcome="accepted"}' \
	'tracespool_events_received_total{outcome="invalid"}' \
	tracespool_spool_events tracespool_spool_bytes tracespool_spool_capacity_bytes \
	tracespool_spool_oldest_age_seconds tracespool_commits_total \
	tracespool_events_per_commit tracespool_events_forwarded_total \
	'tracespool_upstream_requests_total{class="2xx"}' \
	'tracespool_upstream_requests_total{class="4xx"}' \
	'tracespool_upstream_requests_total{class="5xx"}' \
	'tracespool_upstream_requests_total{class="network"}' \
	tracespool_upstream_retries_total tracespool_forwarder_backoff_seconds \
	tracespool_forwarder_held_bytes tracespool_forwarder_held_bytes_max \
	tracespool_dead_letters tracespool_connections tracespool_connections_total; do
	check "/metrics has $name" test -n "$(metric "$TMP/m0" "$name")"
done

body=$(jq -cn '{events: [range(0; 20) | {event_type: "chain", event_name: "metrics", inputs: {i: .}}]}')
req POST /events/batch "$body"
req POST /events '{"event":{"event_type":"chain","event_name":"metrics","inputs":{}}}'
forwarded21() { [ "$(stat_field events_forwarded)" = 21 ]; }
check "21 events are forwarded" wait_for 10 forwarded21
req POST /events '{"event":{"event_type":"nope","inputs":{}}}'
check_eq "a bad event is refused" 400 "$STATUS"
scrape "$TMP/m1"
check_eq "/metrics still parses after traffic" "" "$(prom_problems "$TMP/m1")"
check "events received (accepted) rose by 21" \
	grew "$TMP/m0" "$TMP/m1" tracespool_events_received_total '{outcome="accepted"}' 21
check "events received (invalid) rose by 1" \
	grew "$TMP/m0" "$TMP/m1" tracespool_events_received_total '{outcome="invalid"}' 1
check "commits rose" grew "$TMP/m0" "$TMP/m1" tracespool_commits_total
check "events committed rose by 21" grew "$TMP/m0" "$TMP/m1" tracespool_events_committed_total "" 21
check "events forwarded rose by 21" grew "$TMP/m0" "$TMP/m1" tracespool_events_forwarded_total "" 21
check "upstream 2xx requests rose" \
	grew "$TMP/m0" "$TMP/m1" tracespool_upstream_requests_total '{class="2xx"}'
check "connections accepted rose" grew "$TMP/m0" "$TMP/m1" tracespool_connections_total
check "events per commit is positive" \
	awk -v v="$(metric "$TMP/m1" tracespool_events_per_commit)" 'BEGIN { exit !(v > 0) }'

# An upstream outage: 5xx, retries, backoff, spool depth and age.
upstream_ctl '{"mode":"status","status":500}'
: >"$UPSTREAM_LOG"
req POST /events/batch "$(jq -cn '{events: [range(0; 5) | {event_type: "chain", inputs: {i: .}}]}')"
wait_for 5 grep -q '"answered":500' "$UPSTREAM_LOG"
sleep 1.2
scrape "$TMP/m2"
check "upstream 5xx requests rose" \
	grew "$TMP/m1" "$TMP/m2" tracespool_upstream_requests_total '{class="5xx"}'
check "retries rose" grew "$TMP/m1" "$TMP/m2" tracespool_upstream_retries_total
check_eq "spool depth shows the 5 waiting events" 5 "$(metric "$TMP/m2" tracespool_spool_events)"
check "spool bytes is above 0" grew "$TMP/m1" "$TMP/m2" tracespool_spool_bytes
check "the oldest event's age is at least 1 s" \
	awk -v v="$(metric "$TMP/m2" tracespool_spool_oldest_age_seconds)" 'BEGIN { exit !(v >= 1) }'
in_backoff() {
	scrape "$TMP/m2b"
	[ "$(metric "$TMP/m2b" tracespool_forwarder_state '{state="backoff"}')" = 1 ]
}
check "the forwarder state gauge shows backoff" wait_for 5 in_backoff
check "... with a backoff in seconds above 0" \
	awk -v v="$(metric "$TMP/m2b" tracespool_forwarder_backoff_seconds)" 'BEGIN { exit !(v > 0) }'
check_eq "/metrics parses during an outage" "" "$(prom_problems "$TMP/m2")"

# A poisoned event: a 4xx and a dead letter.
upstream_ctl '{"mode":"reject_name","name":"poison","status":400}'
req POST /events '{"event":{"event_type":"tool","event_name":"poison","inputs":{}}}'
dead1() { [ "$(stat_field dead_letters)" = 1 ]; }
check "the poisoned event is dead-lettered" wait_for 10 dead1
scrape "$TMP/m3"
check_eq "dead letters gauge is 1" 1 "$(metric "$TMP/m3" tracespool_dead_letters)"
check "dead-lettered counter rose" grew "$TMP/m2" "$TMP/m3" tracespool_dead_lettered_total
check "upstream 4xx requests rose" \
	grew "$TMP/m2" "$TMP/m3" tracespool_upstream_requests_total '{class="4xx"}'
check_eq "the 5 waiting events were delivered after the outage" 0 \
	"$(metric "$TMP/m3" tracespool_spool_events)"
check "capacity is positive and within spool_max_bytes" awk \
	-v c="$(metric "$TMP/m3" tracespool_spool_capacity_bytes)" \
	-v m="$(metric "$TMP/m3" tracespool_spool_max_bytes)" 'BEGIN { exit !(c > 0 && c <= m) }'
req GET /stats
for k in spool_events spool_bytes dead_letters events_forwarded upstream_last_status \
	forwarder_state forwarder_reason; do
	check "/stats has $k" test "$(jget "has(\"$k\")")" = true
done
ts_stop_daemon
check_eq "SIGTERM exits 0" 0 $?

# A full spool: refused events are counted by outcome.
rm -rf "$SPOOL"
unset TRACESPOOL_API_KEY
ts_start_daemon --set spool_max_bytes=1M || { not_ok "daemon starts with a 1M spool"; ts_done; }
jq -cn --arg pad "$(head -c 100000 /dev/zero | tr '\0' y)" \
	'{event: {event_type: "chain", event_name: "big", inputs: {pad: $pad}}}' >"$TMP/big.json"
fill_spool /events "$TMP/big.json" 40
check_eq "the 1M spool fills up and answers 503" 503 "$STATUS"
scrape "$TMP/m4"
check "events refused by a full spool are counted" \
	test "$(metric "$TMP/m4" tracespool_events_received_total '{outcome="refused"}')" -ge 1
check "... and the request, with reason full" \
	test "$(metric "$TMP/m4" tracespool_requests_rejected_total '{reason="full"}')" -ge 1
check_eq "/metrics parses with a full spool" "" "$(prom_problems "$TMP/m4")"
ts_stop_daemon
check_eq "SIGTERM exits 0 at the end" 0 $?
ts_done
