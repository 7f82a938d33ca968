#!/usr/bin/env bash
# t_forward.sh: the daemon's forwarder against a fake upstream: order, auth, retries, poison, crash.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup

ts_start_upstream || { not_ok "fake upstream starts"; ts_done; }
export TRACESPOOL_API_KEY=good-key


# requests_in_order: within every delivered request the events come in the
# order of $TMP/sent (requests in flight together may arrive in any order).
requests_in_order() {
	jq -r 'select(.answered>=200 and .answered<300 and .path=="/events/batch") |
		[.body.events[].event_id] | join(" ")' "$UPSTREAM_LOG" |
		awk 'NR == FNR { pos[$1] = NR; next }
			{ prev = 0; for (i = 1; i <= NF; i++) { if (!($i in pos) || pos[$i] <= prev) bad = 1; prev = pos[$i] } }
			END { exit bad }' "$TMP/sent" -
}

# send_events N PREFIX: N events over one batch call per 100; ids to $TMP/sent.
send_events() {
	local n=$1 name=$2 i j body
	for ((i = 0; i < n; i += 100)); do
		body=$(jq -cn --argjson from "$i" --argjson n "$n" --arg name "$name" \
			'{events: [range($from; [$from + 100, $n] | min) | {event_type: "chain", event_name: $name, inputs: {i: .}}]}')
		req POST /events/batch "$body"
		[ "$STATUS" = 200 ] || { echo "# batch answered $STATUS: $BODY"; return 1; }
		jget '.event_ids[]' >>"$TMP/sent"
	done
}

ts_start_daemon "${FWD[@]}" || { not_ok "daemon starts"; ts_done; }
: >"$TMP/sent"
send_events 1000 bulk
check "1,000 events arrive upstream" wait_for 20 count_uploaded 1000
check_eq "each exactly once" "$(sort "$TMP/sent")" "$(uploaded_ids | sort)"
check "each request keeps the order the events were sent in" requests_in_order
check_eq "every request carries the bearer key" 0 "$(jq -r 'select(.authorization != "Bearer good-key")' "$UPSTREAM_LOG" | wc -l)"
check "the spool is emptied after 2xx" wait_for 5 spool_empty
check_eq "/stats counts events_forwarded" 1000 "$(stat_field events_forwarded)"
check_eq "/stats shows the last upstream status" 200 "$(stat_field upstream_last_status)"

# 500 for a while: nothing lost, everything arrives after recovery.
upstream_ctl '{"mode":"status","status":500}'
: >"$UPSTREAM_LOG"
: >"$TMP/sent"
send_events 200 outage
wait_for 5 grep -q '"answered":500' "$UPSTREAM_LOG"
# The upstream logs its 500 before the forwarder has read it: wait for
# the state rather than race the answer.
backing_off() { [ "$(stat_field forwarder_state)" = backoff ]; }
check "during a 500 outage the forwarder backs off" wait_for 5 backing_off
check_eq "nothing is deleted while upstream fails" 200 "$(stat_field spool_events)"
upstream_ctl '{"mode":"ok"}'
check "after recovery all 200 arrive" wait_for 20 count_uploaded 200
check_eq "no event lost or sent twice through the outage" "$(sort "$TMP/sent")" "$(uploaded_ids | sort)"
check "... each request in the order sent" requests_in_order

# 429 with Retry-After: 2: no request for the next two seconds.
upstream_ctl '{"mode":"status","status":429,"retry_after":"2"}'
: >"$UPSTREAM_LOG"
: >"$TMP/sent"
send_events 10 ratelimited
wait_for 5 grep -q '"answered":429' "$UPSTREAM_LOG"
upstream_ctl '{"mode":"ok"}'
check "events arrive after the Retry-After" wait_for 10 count_uploaded 10
t429=$(jq -r 'select(.answered==429) | .t_ms' "$UPSTREAM_LOG" | head -1)
tnext=$(jq -r --argjson t "$t429" 'select(.t_ms > $t) | .t_ms' "$UPSTREAM_LOG" | head -1)
check "no request within 2 s of the 429 (gap $((tnext - t429)) ms)" test $((tnext - t429)) -ge 1950

# A poisoned event in a batch of 50: 49 arrive, one is dead-lettered.
upstream_ctl '{"mode":"reject_name","name":"poison","status":400}'
: >"$UPSTREAM_LOG"
body=$(jq -cn '{events: [range(0; 50) | {event_type: "tool", event_name: (if . == 17 then "poison" else "fine" end), inputs: {i: .}}]}')
req POST /events/batch "$body"
poison_id=$(jget '.event_ids[17]')
check "49 of 50 arrive around the poisoned event" wait_for 15 count_uploaded 49
dead_ok() { [ "$(stat_field dead_letters)" = 1 ]; }
check "the poisoned event is in the dead-letter store" wait_for 5 dead_ok
check_eq "the dead letter is the poisoned event, with status 400" "$poison_id 400" \
	"$("$SPOOL_DUMP" "$SPOOL" dead | jq -r '"\(.event.event_id) \(.status)"' | head -1)"
check_eq "poisoned event never counted as uploaded" 0 "$(uploaded_ids | grep -c "$poison_id")"
upstream_ctl '{"mode":"ok"}'
ts_stop_daemon
check_eq "SIGTERM exits 0" 0 $?

# A bad key: nothing dead-lettered; a new key and SIGHUP deliver everything.
echo wrong-key >"$TMP/key"
upstream_ctl '{"mode":"auth","key":"good-key"}'
: >"$UPSTREAM_LOG"
ts_start_daemon "${FWD[@]}" --set "api_key_file=$TMP/key" || { not_ok "daemon starts with a key file"; ts_done; }
: >"$TMP/sent"
send_events 30 authtest
wait_for 5 grep -q '"answered":401' "$UPSTREAM_LOG"
paused() { [ "$(stat_field forwarder_state)" = paused ]; }
check "a refused key pauses the forwarder" wait_for 5 paused
check "the reason is in /stats" bash -c "curl -s --unix-socket '$SOCK' http://ts/stats | jq -r .forwarder_reason | grep -q 401"
check_eq "nothing is dead-lettered for a bad key" 1 "$(stat_field dead_letters)"
check_eq "the key's text never reaches the log" 0 "$(grep -c wrong-key "$DLOG")"
echo good-key >"$TMP/key"
kill -HUP "$DAEMON_PID"
check "after SIGHUP with the right key everything arrives" wait_for 15 count_uploaded 30
ts_stop_daemon

# Crash: events spooled while the upstream is down survive SIGKILL and
# arrive after restart (duplicates only from a batch in flight).
upstream_ctl '{"mode":"status","status":503}'
: >"$UPSTREAM_LOG"
ts_start_daemon "${FWD[@]}" || { not_ok "daemon starts for the crash test"; ts_done; }
: >"$TMP/sent"
send_events 300 crash
ts_kill_daemon
upstream_ctl '{"mode":"ok"}'
ts_start_daemon "${FWD[@]}" || { not_ok "daemon restarts after SIGKILL"; ts_done; }
check "every acknowledged event arrives after SIGKILL and restart" wait_for 20 count_uploaded 300
missing=$(comm -23 <(sort -u "$TMP/sent") <(uploaded_ids | sort -u) | wc -l)
check_eq "no acknowledged event is missing" 0 "$missing"

# A stalled upstream does not slow ingest: while a forwarder request hangs
# (request_timeout is 30 s), every ingest request still completes within a
# 2 s client timeout.
upstream_ctl '{"mode":"stall"}'
send_events 10 stall-warmup
wait_for 5 grep -q stall-warmup "$UPSTREAM_LOG"
slow=0
for i in $(seq 1 200); do
	req POST /events "{\"event\":{\"event_type\":\"chain\",\"inputs\":{\"i\":$i}}}" --max-time 2
	[ "$STATUS" = 200 ] || slow=$((slow + 1))
done
check_eq "200 events ingested, none stuck behind the stalled upstream" 0 "$slow"
ts_stop_daemon
check_eq "SIGTERM with a stalled upstream exits 0" 0 $?
ts_done
