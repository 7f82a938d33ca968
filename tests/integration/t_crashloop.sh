#!/usr/bin/env bash
# t_crashloop.sh: SIGKILL the daemon at random moments under load (events and OTLP exports), 20+ times; the spool always reopens and everything acknowledged arrives upstream.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup

LOADGEN=${LOADGEN:-$BUILD/tests/loadgen}
KILLS=${CRASHLOOP_KILLS:-22}
ts_start_upstream || { not_ok "fake upstream starts"; ts_done; }
export TRACESPOOL_API_KEY=good-key


# Four keep-alive connections, 400 events a second in all (every fourth
# request a batch of 5, the others single events), for at most 120 s:
# stopped below after the kills. -a prints each acknowledged event_id and
# reconnects whenever the daemon is gone.
printf '{"event_type":"chain","event_name":"crashloop","event_id":"%s","inputs":{"pad":"%s"}}\n' \
	00000000-0000-4000-8000-000000000000 "$(head -c 64 /dev/zero | tr '\0' p)" >"$TMP/event.json"
"$LOADGEN" -a -u "$SOCK" -c 4 -r 400 -b 5 -m -d 120 -e "$TMP/event.json" \
	>"$TMP/acked" 2>"$TMP/loadgen.err" &
LOADGEN_PID=$!
TS_PIDS+=("$LOADGEN_PID")

# Beside it, OTLP exports of 3 spans each, one seed per attempt, about 20 a
# second; a seed answered 200 is acknowledged.
(
	seed=1000
	while :; do
		seed=$((seed + 1))
		"$GEN" -n 3 -s "$seed" >"$TMP/otlp.pb" || exit 1
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$SOCK" \
			-H 'Content-Type: application/x-protobuf' --data-binary "@$TMP/otlp.pb" \
			http://ts/v1/traces 2>/dev/null)
		[ "$code" = 200 ] && echo "$seed" >>"$TMP/otlp_acked"
		sleep 0.05
	done
) &
OTLP_PID=$!
TS_PIDS+=("$OTLP_PID")

# early_kill: start the daemon and SIGKILL it within 90 ms, while it opens
# the spool, recovers and binds the socket.
early_kill() {
	local pid
	# shellcheck disable=SC2046
	$(ts_wrap) "$TSD" -c /dev/null --set "socket=$SOCK" --set "spool_dir=$SPOOL" \
		--set "upstream_url=$UPSTREAM_URL" "${FWD[@]}" >>"$DLOG" 2>&1 &
	pid=$!
	TS_PIDS+=("$pid")
	sleep "0.0$((RANDOM % 10))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# Each round: start on the same spool (sync full or normal, the upstream
# up or, every fourth round, answering 503 so the spool fills), let it
# work for 0 to 1.2 s, then SIGKILL it wherever it is. Every fifth round
# first kills a daemon that is still starting.
kills=0
early=0
opened=1
for round in $(seq 1 "$KILLS"); do
	if [ $((round % 5)) -eq 0 ]; then
		early_kill
		early=$((early + 1))
	fi
	if [ $((round % 4)) -eq 0 ]; then
		upstream_ctl '{"mode":"status","status":503}'
	else
		upstream_ctl '{"mode":"ok"}'
	fi
	sync=full
	[ $((round % 2)) -eq 0 ] && sync=normal
	if ! ts_start_daemon "${FWD[@]}" --set sync=$sync; then
		opened=0
		not_ok "the spool opens after every SIGKILL" "start $round (after $kills kills) failed"
		break
	fi
	ms=$((RANDOM % 1200))
	sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	ts_kill_daemon
	kills=$((kills + 1))
done
[ "$opened" = 1 ] && ok "the spool opens after every SIGKILL ($kills under load, $early more during start-up)"
check "the daemon was SIGKILLed at least 20 times under load ($kills)" test "$kills" -ge 20

# The last start: the upstream takes everything, the spool drains.
upstream_ctl '{"mode":"ok"}'
ts_start_daemon "${FWD[@]}" || { not_ok "the spool opens after the last SIGKILL"; ts_done; }
sleep 1
kill -TERM "$LOADGEN_PID" "$OTLP_PID" 2>/dev/null
wait "$LOADGEN_PID"
wait "$OTLP_PID" 2>/dev/null
summary=$(grep '^loadgen:' "$TMP/loadgen.err" | tail -1)
echo "# $summary"
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$summary"; }
nacked=$(sort -u "$TMP/acked" | wc -l)
check "events were acknowledged between the kills ($nacked)" test "$nacked" -ge 200
check_eq "the daemon never acknowledges one event_id twice" "$(wc -l <"$TMP/acked")" "$nacked"
check_eq "no valid event is refused with 4xx across the kills" 0 "$(field s4xx)"
check_eq "no request is answered 500 across the kills" 0 "$(field s5xx)"
check_eq "every 200 carries the acknowledged ids" 0 "$(field bad_answers)"

check "every acknowledged event arrives upstream after $kills SIGKILLs" wait_for 60 all_arrived
missing=$(missing_ids | wc -l)
check_eq "no acknowledged event_id is missing upstream ($nacked acknowledged)" 0 "$missing"
[ "$missing" -eq 0 ] || missing_ids | head -5 | sed 's/^/#   missing: /'
notlp=$(wc -l <"$TMP/otlp_acked" 2>/dev/null || echo 0)
check "OTLP exports were acknowledged between the kills ($notlp)" test "$notlp" -ge 20
otlp_missing() {
	comm -23 <(while read -r s; do span_ids "$s" 3; done <"$TMP/otlp_acked" | sort -u) \
		<(uploaded_spans | sort -u)
}
otlp_all_arrived() { [ "$(otlp_missing | wc -l)" -eq 0 ]; }
check "every span of every acknowledged export arrives upstream" wait_for 60 otlp_all_arrived
otlp_missing | head -5 | sed 's/^/#   missing span: /'
check "the spool drains once the upstream has everything" wait_for 20 spool_empty
arrived=$(uploaded_ids | wc -l)
echo "# acknowledged $nacked, arrived upstream $arrived (duplicates $((arrived - $(uploaded_ids | sort -u | wc -l))), from batches in flight at a kill)"
ts_stop_daemon
check_eq "SIGTERM after the crash loop exits 0" 0 $?
ts_done
