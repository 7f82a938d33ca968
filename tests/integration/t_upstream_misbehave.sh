#!/usr/bin/env bash
# t_upstream_misbehave.sh: an upstream that stalls, resets, truncates, answers non-JSON, redirects or answers late loses nothing.
#
# Each phase switches the fake upstream to one misbehaviour, sends events
# (every one acknowledged), checks what the forwarder did with them, then
# switches the upstream back to ok and checks that every acknowledged event
# arrives: the forwarder neither lost them nor stopped for good.
#
# What a 2xx means does not depend on its body: the contract deletes on 2xx,
# so a 200 whose body is not JSON is a delivery (the daemon logs a warning
# that upstream_url may not be the event API). A 200 cut short (fewer bytes
# than its Content-Length) is a transport error: nothing is deleted, the
# batch is sent again.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup

ts_start_upstream || {
	not_ok "fake upstream starts"
	ts_done
}
export TRACESPOOL_API_KEY=good-key
FWD=(--set retry_initial=100ms --set retry_max=500ms --set flush_interval=50ms)
: >"$TMP/sent"

spool_is() {
	[ "$(stat_field spool_events)" = "$1" ]
}

# send_events N NAME: N events in one batch; their ids to $TMP/ids.NAME.
send_events() {
	local body
	body=$(jq -cn --argjson n "$1" --arg name "$2" \
		'{events: [range(0; $n) | {event_type: "chain", event_name: $name, inputs: {i: .}}]}')
	req POST /events/batch "$body"
	[ "$STATUS" = 200 ] || {
		echo "# batch answered $STATUS: $BODY"
		return 1
	}
	jget '.event_ids[]' >"$TMP/ids.$2"
	cat "$TMP/ids.$2" >>"$TMP/sent"
}

# retry_phase MODE-JSON NAME WHAT: a misbehaviour the forwarder must retry.
# While it lasts nothing is deleted and the forwarder backs off; once the
# upstream is ok again every event of the phase arrives.
retry_phase() {
	local mode=$1 name=$2 what=$3 fwd0
	upstream_ctl "$mode"
	fwd0=$(stat_field events_forwarded)
	send_events 20 "$name" || {
		not_ok "$what: 20 events acknowledged"
		return
	}
	check "$what: the upstream saw the batch" wait_for 10 grep -q "\"$name\"" "$UPSTREAM_LOG"
	backing_off() { [ "$(stat_field retries)" -gt "$retries0" ]; }
	check "$what: the forwarder counts it a failure and retries" wait_for 10 backing_off
	check_eq "$what: nothing deleted from the spool" 20 "$(stat_field spool_events)"
	check_eq "$what: nothing counted as forwarded" "$fwd0" "$(stat_field events_forwarded)"
	upstream_ctl '{"mode":"ok"}'
	check "$what: once the upstream is ok, all 20 arrive" wait_for 15 all_arrived "$TMP/ids.$name"
	check "$what: the spool drains" wait_for 10 spool_is 0
	retries0=$(stat_field retries)
}

ts_start_daemon "${FWD[@]}" --set request_timeout=1s || {
	not_ok "daemon starts"
	ts_done
}
retries0=0

# Accepts and never answers: request_timeout (1 s) ends each attempt.
retry_phase '{"mode":"stall"}' stall "stall (accepts, never answers)"
check "stall: the daemon logs the timeout" grep -q "forwarder: upstream unreachable (.*timed out" "$DLOG"

# Closes the connection without a word.
retry_phase '{"mode":"reset"}' reset "reset (closes without answering)"

# 200 with a Content-Length longer than the body, then closes.
retry_phase '{"mode":"truncated"}' truncated "truncated 200"

# 302 to another path: never followed (the bearer key must not travel).
retry_phase '{"mode":"redirect"}' redirect "302 redirect"
check_eq "302 redirect: the Location is never followed" 0 \
	"$(jq -r 'select(.path=="/elsewhere") | .path' "$UPSTREAM_LOG" | wc -l)"

# 200 with a body that is not JSON: a 2xx, so a delivery; the log says so.
upstream_ctl '{"mode":"notjson"}'
fwd0=$(stat_field events_forwarded)
send_events 20 notjson || not_ok "non-JSON 200: 20 events acknowledged"
check "non-JSON 200: the events count as delivered (2xx deletes)" wait_for 10 spool_is 0
check_eq "non-JSON 200: events_forwarded counts them" $((fwd0 + 20)) "$(stat_field events_forwarded)"
check "non-JSON 200: each was answered 200 by the upstream" all_arrived "$TMP/ids.notjson"
check "non-JSON 200: the daemon warns that upstream_url may be wrong" \
	grep -q "not JSON" "$DLOG"
upstream_ctl '{"mode":"ok"}'
ts_stop_daemon
check_eq "SIGTERM after the misbehaving upstream exits 0" 0 $?

# 200 after 2.5 s, within request_timeout = 3 s: a slow success, not a
# failure, and no second copy.
ts_start_daemon "${FWD[@]}" --set request_timeout=3s || {
	not_ok "daemon restarts with request_timeout=3s"
	ts_done
}
retries0=$(stat_field retries)
upstream_ctl '{"mode":"delay","ms":2500}'
t0=$(date +%s%N)
send_events 20 slow || not_ok "200 after 2.5 s: 20 events acknowledged"
check "200 after 2.5 s: all 20 arrive" wait_for 10 all_arrived "$TMP/ids.slow"
check "200 after 2.5 s: the spool drains" wait_for 5 spool_is 0
ms=$((($(date +%s%N) - t0) / 1000000))
check "200 after 2.5 s: delivered on the first attempt (${ms} ms)" test "$(stat_field retries)" = "$retries0"
check_eq "200 after 2.5 s: each event sent exactly once" 20 \
	"$(jq -r 'select(.path=="/events/batch") | .body.events[]?.event_id' "$UPSTREAM_LOG" | grep -c -F -f "$TMP/ids.slow")"

# 200 after 4.5 s, beyond request_timeout: each attempt times out, the
# forwarder keeps retrying; once the upstream is quick again all arrive.
retry_phase '{"mode":"delay","ms":4500}' late "200 after 4.5 s (past request_timeout)"

check "every event acknowledged in this test arrived" all_arrived "$TMP/sent"
check "the forwarder is idle at the end" wait_for 5 bash -c "[ \"\$(curl -s --unix-socket '$SOCK' http://ts/stats | jq -r .forwarder_state)\" = idle ]"
ts_stop_daemon
check_eq "SIGTERM exits 0" 0 $?
ts_done
