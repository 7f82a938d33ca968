#!/usr/bin/env bash
# t_drain.sh: uploads in flight together through a slow upstream: the order rules, SIGKILL mid-flight, the rate cap, the runway and status --watch.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup

ts_start_upstream || { not_ok "fake upstream starts"; ts_done; }
export TRACESPOOL_API_KEY=drain-key
CONC=(--set upload_concurrency=8)

# fake_count NAME: a member of the fake upstream's GET /_count.
fake_count() {
	curl -s --max-time 5 "$UPSTREAM_URL/_count" | jq -r ".$1"
}

# --- the order rules under concurrency, retries and splits -------------------
# A session start every few steps, batches of events (some poisoned: the
# upstream rejects them, so their requests split down to one record),
# updates of earlier events; the upstream takes 60 ms a request and answers
# every 6th 503. $TMP/order gets "KIND ID" per record in spool order (the
# requests are sent one after the other, each acknowledged before the next).
# Meanwhile the upstream refuses the daemon's key, so that nothing goes
# before all is spooled.
ts_start_daemon "${FWD[@]}" "${CONC[@]}" --set batch_max_events=20 || { not_ok "daemon starts"; ts_done; }
upstream_ctl '{"mode":"auth","key":"another-key"}'
: >"$TMP/order"
npoison=0
for step in $(seq 1 40); do
	case $((step % 8)) in
	1)
		req POST /session/start '{"session":{"session_name":"drain"}}'
		[ "$STATUS" = 200 ] || { not_ok "session start answered $STATUS"; break; }
		echo "session $(jget .session_id)" >>"$TMP/order"
		;;
	4)
		last=$(awk '$1 == "event" { id = $2 } END { print id }' "$TMP/order")
		req PUT /events "{\"event_id\":\"$last\",\"metadata\":{\"u\":$step}}"
		[ "$STATUS" = 200 ] || { not_ok "update answered $STATUS"; break; }
		echo "update u:$step" >>"$TMP/order"
		;;
	*)
		poison=$((step % 5 == 0 ? 2 : -1))
		body=$(jq -cn --argjson p "$poison" '{events: [range(0; 7) |
			{event_type: "tool", event_name: (if . == $p then "poison" else "fine" end), inputs: {i: .}}]}')
		req POST /events/batch "$body"
		[ "$STATUS" = 200 ] || { not_ok "batch answered $STATUS"; break; }
		jget '.event_ids[]' | awk -v p="$poison" '{ print (NR - 1 == p ? "poison " : "event ") $1 }' >>"$TMP/order"
		[ "$poison" -ge 0 ] && npoison=$((npoison + 1))
		;;
	esac
done
nrec=$(wc -l <"$TMP/order")
: >"$UPSTREAM_LOG"
upstream_ctl '{"mode":"reject_name","name":"poison","status":422,"latency_ms":60,"fail_every":6}'
dead_all() { [ "$(stat_field dead_letters)" = "$npoison" ]; }
check "all $nrec records settle: delivered, or the $npoison poisoned dead-lettered" \
	wait_for 60 bash -c "[ \"\$(curl -s --unix-socket '$SOCK' http://ts/stats | jq -r '\"\(.spool_events) \(.dead_letters)\"')\" = '0 $npoison' ]"

# rule_violations: the order rules, checked on the upstream's log against
# $TMP/order; one line per violation. n_in and n_out place every arrival
# and answer in one sequence at the fake.
rule_violations() {
	jq -n -r --rawfile order "$TMP/order" --slurpfile log "$UPSTREAM_LOG" '
	def ids: if .path == "/events/batch" then [.body.events[]?.event_id]
		elif .path == "/session/start" then [.body.session.session_id]
		elif .method == "PUT" then ["u:\(.body.metadata.u)"]
		else [] end;
	($order | split("\n") | map(select(length > 0) | split(" ") | {kind: .[0], id: .[1]})) as $recs
	| ($recs | to_entries | map({key: .value.id, value: .key}) | from_entries) as $idx
	| [$log[] | {n_in, n_out, answered, ix: (ids | map($idx[.] // empty))}
		| .ok = (.answered >= 200 and .answered < 300)] as $reqs
	| [range(0; $recs | length)] as $all
	| (reduce ($reqs[] | select(.ok) | .ix[]) as $i ({}; .[$i | tostring] += 1)) as $times
	| (reduce ($reqs[] | . as $q | select($q.ok or ($q.answered == 422 and ($q.ix | length) == 1))
		| $q.ix[] | {i: ., out: $q.n_out}) as $s ({}; .[$s.i | tostring] = $s.out)) as $settle
	| ($all[] | . as $i | $recs[$i] as $r | ($times[$i | tostring] // 0) as $t
		| if $r.kind == "poison" then
			(if $t != 0 then "poison \($r.id) was accepted" else empty end),
			(if $settle[$i | tostring] == null then "poison \($r.id) never rejected alone" else empty end)
		elif $t != 1 then "\($r.kind) \($r.id) accepted \($t) times, want once"
		else empty end),
	  ($all[] | . as $i | select($recs[$i].kind == "session") | $settle[$i | tostring] as $s
		| $reqs[] | select((.ix | max // -1) > $i and .n_in < $s)
		| "a request (n_in \(.n_in)) with records after session \($recs[$i].id) came before it was accepted (n_out \($s))"),
	  ($reqs[] | select((.ix | length) == 1 and $recs[.ix[0]].kind == "update") | . as $q | $q.ix[0] as $i
		| ([$all[] | select(. < $i) | $settle[tostring] // 0] | max // 0) as $before
		| select($q.n_in < $before)
		| "update \($recs[$i].id) went out (n_in \($q.n_in)) before an earlier record was settled (n_out \($before))")'
}
rule_violations >"$TMP/violations"
check_eq "every order rule held (sessions first, updates last, each record settled once)" "" \
	"$(head -5 "$TMP/violations")"
check "... with requests in flight together (the fake saw $(fake_count max_inflight) at once)" \
	test "$(fake_count max_inflight)" -ge 2
check "... with retries: some requests were answered 503" grep -q '"answered":503' "$UPSTREAM_LOG"
check "... and splits: a rejected request held several records" \
	test "$(jq -c 'select(.answered == 422 and (.body.events | length) > 1)' "$UPSTREAM_LOG" | wc -l)" -ge 1
ts_stop_daemon
check_eq "SIGTERM exits 0" 0 $?

# --- SIGKILL with requests in flight: nothing lost, only those duplicated ----
upstream_ctl '{"mode":"ok","latency_ms":400}'
: >"$UPSTREAM_LOG"
rm -rf "$SPOOL"
ts_start_daemon "${FWD[@]}" "${CONC[@]}" --set batch_max_events=50 || { not_ok "daemon starts"; ts_done; }
: >"$TMP/acked"
for i in $(seq 1 40); do
	req POST /events/batch "$(jq -cn --argjson b "$i" '{events: [range(0; 100) | {event_type: "chain", event_name: "kill", inputs: {b: $b, i: .}}]}')"
	[ "$STATUS" = 200 ] && jget '.event_ids[]' >>"$TMP/acked"
done
busy() { [ "$(fake_count max_inflight)" -ge 4 ] && count_uploaded 300; }
check "several requests in flight and some delivered before the kill" wait_for 20 busy
kill_ms=$(date +%s%3N)
ts_kill_daemon
ts_start_daemon "${FWD[@]}" "${CONC[@]}" --set batch_max_events=50 || { not_ok "daemon restarts after SIGKILL"; ts_done; }
check "every acknowledged event arrives after the restart ($(wc -l <"$TMP/acked"))" wait_for 60 all_arrived
check_eq "no acknowledged event is missing" 0 "$(missing_ids | wc -l)"
check "requests were in flight at the kill (their answers reached nobody)" \
	grep -q '"answered":0' "$UPSTREAM_LOG"
# A duplicate was accepted before the kill with its delete not yet
# committed: its first acceptance came just before the kill.
uploaded_ids | sort | uniq -d >"$TMP/dups"
ndup=$(wc -l <"$TMP/dups")
early=$(jq -r --argjson k "$kill_ms" --rawfile d "$TMP/dups" '
	($d | split("\n") | map(select(length > 0)) | map({key: ., value: true}) | from_entries) as $dup
	| select(.answered == 200 and .path == "/events/batch")
	| .t_answer_ms as $t | .body.events[].event_id | select($dup[.]) | "\(.) \($t)"' "$UPSTREAM_LOG" |
	sort -k1,1 -k2,2n | awk -v k="$kill_ms" '$1 != last { last = $1; if ($2 < k - 1000) n++ } END { print n + 0 }')
echo "# duplicates after SIGKILL: $ndup events"
check "duplicates ($ndup) are at most the requests in flight (8 of 50)" test "$ndup" -le 400
check_eq "each duplicate was first accepted within 1 s of the kill" 0 "$early"
ts_stop_daemon

# --- upload_rate_limit: 200 events a second -----------------------------------
upstream_ctl '{"mode":"ok"}'
: >"$UPSTREAM_LOG"
ts_start_daemon "${FWD[@]}" "${CONC[@]}" --set batch_max_events=50 --set upload_rate_limit=200/s ||
	{ not_ok "daemon starts with upload_rate_limit"; ts_done; }
# Held back by a refused key (not an outage, which would pace the return).
upstream_ctl '{"mode":"auth","key":"another-key"}'
: >"$TMP/acked"
for i in 1 2 3 4 5 6; do
	req POST /events/batch "$(jq -cn '{events: [range(0; 100) | {event_type: "chain", event_name: "rate", inputs: {i: .}}]}')"
	jget '.event_ids[]' >>"$TMP/acked"
done
: >"$UPSTREAM_LOG"
upstream_ctl '{"mode":"ok"}'
check "600 events arrive under upload_rate_limit = 200/s" wait_for 20 all_arrived
span=$(jq -s 'map(select(.answered == 200)) | (map(.t_ms) | max) - (map(.t_ms) | min)' "$UPSTREAM_LOG")
check "... spread over at least 1.8 s, not at once (${span} ms)" test "$span" -ge 1800
check "... /stats counts the requests that waited" test "$(stat_field upload_rate_limited)" -ge 4
ts_stop_daemon

# --- runway, rates and status --watch ----------------------------------------
ts_start_daemon "${FWD[@]}" "${CONC[@]}" || { not_ok "daemon starts"; ts_done; }
upstream_ctl '{"mode":"status","status":503}'
for i in 1 2 3 4; do
	req POST /events/batch "$(jq -cn '{events: [range(0; 50) | {event_type: "chain", event_name: "runway", inputs: {i: .}}]}')"
	sleep 0.6
done
sleep 1.2
stats=$(curl -s --unix-socket "$SOCK" http://ts/stats)
check "during an outage the runway is a number of seconds ($(jq .runway_s <<<"$stats"))" \
	test "$(jq '.runway_s | type == "number" and . > 0' <<<"$stats")" = true
check_eq "... the drain rate is 0 and the backlog does not shrink (drain_eta_s null)" "0 null" \
	"$(jq -r '"\(.drain_rate) \(.drain_eta_s)"' <<<"$stats")"
check "... the ingest rate is above 0" test "$(jq '.ingest_rate > 0' <<<"$stats")" = true
"$TSCLI" --socket "$SOCK" status >"$TMP/status.out" 2>&1
check "tracespool status shows the runway" grep -q '^runway: .* at this ingest with nothing forwarded' "$TMP/status.out"
check "... that the backlog is not shrinking" grep -q '^backlog gone in: *never' "$TMP/status.out"
check "... the uploads' concurrency" grep -Eq '^uploads: +[0-9]+ in flight, limit [0-9]+ of 8' "$TMP/status.out"
upstream_ctl '{"mode":"ok","latency_ms":50}'
check "after the outage the spool drains" wait_for 20 spool_empty
check "/metrics has the concurrency, the latency and the runway" bash -c \
	"curl -s --unix-socket '$SOCK' http://ts/metrics | grep -q '^tracespool_upload_concurrency_max 8' &&
	 curl -s --unix-socket '$SOCK' http://ts/metrics | grep -q '^tracespool_upstream_rtt_seconds 0\.0[5-9]' &&
	 curl -s --unix-socket '$SOCK' http://ts/metrics | grep -q '^tracespool_spool_runway_seconds '"
check "tracespool status shows the latency" bash -c \
	"'$TSCLI' --socket '$SOCK' status | grep -Eq '^uploads: .*latency [0-9]+ ms \(floor [0-9]+ ms\)'"
"$TSCLI" --socket "$SOCK" status --watch=1 >"$TMP/watch.out" 2>&1 &
wpid=$!
TS_PIDS+=("$wpid")
sleep 2.5
kill -INT "$wpid"
wait "$wpid"
check_eq "status --watch ends with 0 on SIGINT" 0 $?
check "... after redrawing every second" test "$(grep -c '^tracespool status at .*every 1s' "$TMP/watch.out")" -ge 2
"$TSCLI" --socket "$SOCK" status --watch=0 >/dev/null 2>&1
check_eq "--watch=0 is a usage error" 2 $?
"$TSCLI" --socket "$SOCK" --watch dlq list >/dev/null 2>&1
check_eq "--watch is refused for other commands" 2 $?
ts_stop_daemon

# --- the keys ----------------------------------------------------------------
out=$("$TSD" -c /dev/null -t --set upload_rate_limit=2M/s --set upload_concurrency=16 --set recovery_spread=30s 2>&1)
check "tracespoold -t prints the new keys" bash -c "grep -q '^upload_rate_limit = 2M/s$' <<<'$out' &&
	grep -q '^upload_concurrency = 16$' <<<'$out' && grep -q '^recovery_spread = 30s$' <<<'$out'"
"$TSD" -c /dev/null -t --set upload_rate_limit=fast >/dev/null 2>&1
check_eq "a bad upload_rate_limit is a configuration error" 78 $?
"$TSD" -c /dev/null -t --set upload_concurrency=65 >/dev/null 2>&1
check_eq "upload_concurrency above 64 is a configuration error" 78 $?
ts_done
