#!/usr/bin/env bash
# t_durability.sh: acknowledged events survive SIGKILL; a full spool answers 503 with Retry-After.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup

ts_start_daemon || { not_ok "daemon starts"; ts_done; }

# Several concurrent clients; every acknowledged id must be in the spool
# after a SIGKILL, since the reply waits for the commit.
for c in 1 2 3 4; do
	(
		for i in $(seq 1 50); do
			curl -s --max-time 10 --unix-socket "$SOCK" -H 'Content-Type: application/json' \
				--data-binary "{\"event\":{\"event_type\":\"chain\",\"inputs\":{\"c\":$c,\"i\":$i}}}" \
				http://ts/events | jq -r 'select(.success==true) | .event_id'
		done >"$TMP/acked.$c"
	) &
done
wait_pids=$(jobs -p)
sleep 0.3
ts_kill_daemon
for p in $wait_pids; do wait "$p" 2>/dev/null; done
cat "$TMP"/acked.* | sort -u >"$TMP/acked"
nacked=$(wc -l <"$TMP/acked")
check "some events were acknowledged before the kill" test "$nacked" -gt 0

ts_start_daemon || { not_ok "daemon restarts on the killed spool"; ts_done; }
ok "daemon restarts on the spool of a SIGKILLed daemon"
spool_dump | jq -r .event.event_id | sort -u >"$TMP/spooled"
missing=$(comm -23 "$TMP/acked" "$TMP/spooled" | wc -l)
check_eq "every acknowledged event ($nacked) is in the spool after SIGKILL" 0 "$missing"
ts_stop_daemon

# A small spool fills: 503 with Retry-After and a JSON body, and the
# daemon keeps serving.
rm -rf "$SPOOL"
ts_start_daemon --set spool_max_bytes=1M || { not_ok "daemon starts with a 1M spool"; ts_done; }
pad=$(head -c 3000 /dev/zero | tr '\0' 'p')
printf '{"event":{"event_type":"chain","inputs":{"pad":"%s"}}}' "$pad" >"$TMP/ev.json"
check "a full spool answers 503" fill_spool /events "$TMP/ev.json" 600
check "503 carries Retry-After" grep -qi '^Retry-After: [0-9]' <<<"$HEADERS"
check_eq "503 body is the JSON error" "false spool" "$(jget .success) $(jget .error | cut -d: -f1)"
req GET /healthz
check_eq "/healthz answers 503 when full" 503 "$STATUS"
req GET /stats
check_eq "daemon still answers /stats when full" 200 "$STATUS"
ts_stop_daemon
check_eq "SIGTERM exits 0 with a full spool" 0 $?

# drop_oldest: every append succeeds, and the evictions are counted.
rm -rf "$SPOOL"
ts_start_daemon --set spool_max_bytes=1M --set when_full=drop_oldest || { not_ok "daemon starts with drop_oldest"; ts_done; }
fails=0
for i in $(seq 1 400); do
	req POST /events "@$TMP/ev.json"
	[ "$STATUS" = 200 ] || fails=$((fails + 1))
done
check_eq "drop_oldest accepts every event" 0 "$fails"
ev=$(stat_field evicted)
n=$(stat_field spool_events)
check_eq "evicted + spooled = sent" 400 $((ev + n))
check "some were evicted" test "$ev" -gt 0
ts_stop_daemon
ts_done
