#!/usr/bin/env bash
# t_cli.sh: the tracespool command: usage and exit codes, status, send, spool, and the dead-letter commands end to end.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup

OUT=$TMP/cli.out
ERR=$TMP/cli.err

# cli ARGS...: run tracespool, keeping stdout in $OUT, stderr in $ERR and
# the exit code in $RC.
cli() {
	"$TSCLI" "$@" >"$OUT" 2>"$ERR"
	RC=$?
}

stat_is() {
	[ "$(stat_field "$1")" = "$2" ]
}

# upstream_got NAME STATUS: how many events named NAME the fake upstream
# answered with STATUS.
upstream_got() {
	jq -r --argjson st "$2" 'select(.answered == $st) | .body.events[]?.event_name' \
		"$UPSTREAM_LOG" 2>/dev/null | grep -cx "$1"
}

upstream_has() {
	[ "$(upstream_got "$1" 200)" -ge "${2:-1}" ]
}

# --- usage, version, unreachable daemon: no daemon needed -----------------
cli -V
check_eq "-V exits 0" 0 "$RC"
check "-V prints the version" grep -q '^tracespool ' "$OUT"
cli --help
check_eq "--help exits 0" 0 "$RC"
check "--help lists the dlq commands" grep -q 'dlq replay' "$OUT"
cli
check_eq "no command is a usage error" 2 "$RC"
cli frobnicate
check_eq "unknown command is a usage error" 2 "$RC"
cli status --bogus
check_eq "unknown option is a usage error" 2 "$RC"
cli status extra
check_eq "status with an operand is a usage error" 2 "$RC"
cli send --batch 0 /dev/null
check_eq "--batch 0 is a usage error" 2 "$RC"
cli dlq --spool-dir "$SPOOL" purge
check_eq "dlq purge without ID or --all is a usage error" 2 "$RC"
check "the message asks for an ID or --all" grep -q -- '--all' "$ERR"
cli dlq --spool-dir "$SPOOL" replay
check_eq "dlq replay without ID or --all is a usage error" 2 "$RC"
cli dlq --spool-dir "$SPOOL" purge 1 --all
check_eq "dlq purge with both ID and --all is a usage error" 2 "$RC"
cli dlq --spool-dir "$SPOOL" show x1
check_eq "dlq show with a bad ID is a usage error" 2 "$RC"
cli dlq --spool-dir "$SPOOL" list --all
check_eq "--all on dlq list is a usage error" 2 "$RC"
cli dlq frob
check_eq "unknown dlq subcommand is a usage error" 2 "$RC"

cli --socket "$TMP/missing.sock" status
check_eq "status on a missing socket exits 69" 69 "$RC"
check "the message names the socket" grep -q "$TMP/missing.sock" "$ERR"
echo '{"event_type":"chain","inputs":{}}' >"$TMP/one.jsonl"
cli --socket "$TMP/missing.sock" send "$TMP/one.jsonl"
check_eq "send on a missing socket exits 69" 69 "$RC"
TRACESPOOL_SOCKET=$TMP/missing.sock "$TSCLI" status >/dev/null 2>&1
check_eq "TRACESPOOL_SOCKET is the default socket" 69 "$?"
TRACESPOOL_SOCKET= "$TSCLI" status >/dev/null 2>&1
check_eq "an empty TRACESPOOL_SOCKET is a configuration error" 78 "$?"
cli dlq list --spool-dir "$TMP/nospool"
check_eq "dlq list on a missing spool exits 1" 1 "$RC"

# --- a daemon with a fake upstream ----------------------------------------
ts_start_upstream || { not_ok "fake upstream starts"; ts_done; }
TCP_PORT=$((20000 + RANDOM % 20000))
export TRACESPOOL_API_KEY=test-key
ts_start_daemon --set "listen_tcp=127.0.0.1:$TCP_PORT" --set retry_initial=100ms --set retry_max=1s ||
	{ not_ok "daemon starts"; ts_done; }
unset TRACESPOOL_API_KEY
ok "daemon starts with the fake upstream"

cli --socket "$SOCK" status
check_eq "status exits 0" 0 "$RC"
check "status shows the forwarder state" grep -Eq '^forwarder: +(idle|sending|backoff|paused)' "$OUT"
check "status shows the spool" grep -q '^spool: .* events' "$OUT"
check "status shows dead letters" grep -q '^dead letters: ' "$OUT"
cli --socket "$SOCK" status --json
check_eq "status --json exits 0" 0 "$RC"
check_eq "status --json is the /stats object" number "$(jq -r '.spool_events | type' "$OUT")"
TRACESPOOL_SOCKET=$SOCK "$TSCLI" status --json >"$OUT" 2>"$ERR"
check_eq "TRACESPOOL_SOCKET reaches the daemon" string "$(jq -r '.forwarder_state | type' "$OUT")"
cli --url "http://127.0.0.1:$TCP_PORT" status --json
check_eq "status --url over TCP" "0 number" "$RC $(jq -r '.dead_letters | type' "$OUT" 2>/dev/null)"

# send: good, blank, not JSON, not an object, invalid event, spread over
# batches of 3 so a rejected batch is resent line by line.
cat >"$TMP/mixed.jsonl" <<'EOF'
{"event_type":"chain","inputs":{"n":1},"event_name":"cli-good"}
{"event_type":"tool","inputs":{"n":2},"event_name":"cli-good"}

{"event_type":"chain","inputs":
[1, 2, 3]
{"event_type":"bogus","inputs":{},"event_name":"cli-bad"}
{"event_type":"model","inputs":{"n":3},"event_name":"cli-good"}
   
{"event_type":"chain","inputs":{"n":4},"event_name":"cli-good"}
{"event_type":"chain","inputs":"not an object","event_name":"cli-bad"}
{"event_type":"session","inputs":{"n":5},"event_name":"cli-good"}
EOF
before=$(stat_field events_received)
cli --socket "$SOCK" send --batch 3 "$TMP/mixed.jsonl"
check_eq "send with bad lines exits 1" 1 "$RC"
check_eq "send prints the counts" "accepted 5, rejected 4" "$(cat "$OUT")"
check "line 4 (truncated JSON) is named" grep -q '^line 4: not JSON' "$ERR"
check "line 5 (an array) is named" grep -q '^line 5: not a JSON object' "$ERR"
check "line 6 (bad event_type) is named with the field" grep -q '^line 6: .*event_type' "$ERR"
check "line 10 (inputs not an object) is named with the field" grep -q '^line 10: .*inputs' "$ERR"
check_eq "only the rejected lines are reported" 4 "$(grep -c '^line ' "$ERR")"
check_eq "the rejections come in input order" "4 5 6 10" "$(sed -n 's/^line \([0-9]*\):.*/\1/p' "$ERR" | xargs)"
check_eq "the daemon received the five good events" $((before + 5)) "$(stat_field events_received)"
check "the good events reach the upstream" wait_for 10 upstream_has cli-good 5
check_eq "no bad event reached the upstream" 0 "$(upstream_got cli-bad 200)"

# All good, from stdin, in one batch: exit 0.
for i in $(seq 1 7); do
	printf '{"event_type":"chain","inputs":{"i":%d},"event_name":"cli-stdin"}\n' "$i"
done | "$TSCLI" --socket "$SOCK" send >"$OUT" 2>"$ERR"
check_eq "send from stdin, all good, exits 0" 0 "$?"
check_eq "send from stdin counts" "accepted 7, rejected 0" "$(cat "$OUT")"
check "the stdin events reach the upstream" wait_for 10 upstream_has cli-stdin 7
printf '\n\n' | "$TSCLI" --socket "$SOCK" send >"$OUT" 2>&1
check_eq "send of blank lines only accepts nothing, exits 0" "0 accepted 0, rejected 0" "$? $(cat "$OUT")"
cli --socket "$SOCK" send "$TMP/no-such-file"
check_eq "send of a missing file exits 1" 1 "$RC"

# --- dead letters ---------------------------------------------------------
upstream_ctl '{"mode":"reject_name","name":"poison","status":400}'
POISON_ID=3f6c2a1e-5b7d-4c8e-9f0a-1b2c3d4e5f60
echo "{\"event_type\":\"tool\",\"inputs\":{\"x\":1},\"event_name\":\"poison\",\"event_id\":\"$POISON_ID\"}" |
	"$TSCLI" --socket "$SOCK" send >/dev/null 2>&1
check "the poison event is dead-lettered" wait_for 15 stat_is dead_letters 1

cli --socket "$SOCK" status
check "status points at the dead letter" grep -q '^dead letters: *1' "$OUT"
cli dlq list --spool-dir "$SPOOL"
check_eq "dlq list exits 0 beside the running daemon" 0 "$RC"
check "dlq list has a header" grep -q '^ID .*DEAD SINCE .*STATUS .*ATTEMPTS .*EVENT_NAME .*EVENT_ID .*REASON' "$OUT"
line=$(grep poison "$OUT")
check "dlq list shows the event name and id" grep -q "$POISON_ID" <<<"$line"
check "dlq list shows the status" grep -Eq '^1 .* 400 ' <<<"$line"
check "dlq list shows the reason" grep -q 'rejected event_name poison\|400' <<<"$line"
DLQ_ID=$(awk '/poison/ {print $1}' "$OUT")
check_eq "the dead letter's id is 1" 1 "$DLQ_ID"
TRACESPOOL_SPOOL_DIR=$SPOOL "$TSCLI" dlq list --json >"$OUT" 2>"$ERR"
check_eq "dlq list --json (spool from TRACESPOOL_SPOOL_DIR)" "1 400 poison" \
	"$(jq -r 'length, .[0].status, .[0].event.event_name' "$OUT" | xargs)"
cli dlq show "$DLQ_ID" --spool-dir "$SPOOL"
check_eq "dlq show exits 0" 0 "$RC"
check "dlq show gives the status" grep -q '^status: *400' "$OUT"
check "dlq show gives the attempts" grep -Eq '^attempts: *[1-9]' "$OUT"
check "dlq show gives the reason" grep -q '^reason: ' "$OUT"
check "dlq show pretty-prints the event" grep -Eq "^[[:space:]]+\"event_id\":[[:space:]]*\"$POISON_ID\"" "$OUT"
cli dlq show "$DLQ_ID" --json --spool-dir "$SPOOL"
check_eq "dlq show --json carries the event" "$POISON_ID" "$(jq -r .event.event_id "$OUT")"
cli dlq show 99 --spool-dir "$SPOOL"
check_eq "dlq show of a missing id exits 1" 1 "$RC"
cli spool --spool-dir "$SPOOL"
check_eq "spool exits 0" 0 "$RC"
check "spool shows the dead letter" grep -q '^dead letters: *1' "$OUT"
check "spool shows the space" grep -q '^space: .* used of ' "$OUT"
cli spool --json --spool-dir "$SPOOL"
check_eq "spool --json counts the dead letter" 1 "$(jq -r .dead_letters "$OUT")"

# Replay: the upstream takes it now, the running daemon sends it.
upstream_ctl '{"mode":"ok"}'
cli dlq replay "$DLQ_ID" --spool-dir "$SPOOL"
check_eq "dlq replay ID exits 0" 0 "$RC"
check "dlq replay says what it did" grep -q '^replayed 1 dead letter' "$OUT"
check "the replayed event reaches the upstream" wait_for 15 upstream_has poison
check_eq "the replayed event is the dead one" 1 \
	"$(jq -r --arg id "$POISON_ID" 'select(.answered == 200) | .body.events[]? | select(.event_id == $id) | .event_id' "$UPSTREAM_LOG" | wc -l)"
check "no dead letters left" wait_for 5 stat_is dead_letters 0
cli dlq replay "$DLQ_ID" --spool-dir "$SPOOL"
check_eq "replaying it again exits 1 (gone)" 1 "$RC"
cli dlq list --spool-dir "$SPOOL"
check_eq "dlq list on an empty store" "0 no dead letters" "$RC $(cat "$OUT")"

# Purge: one by id, then the rest with --all.
upstream_ctl '{"mode":"reject_name","name":"poison","status":400}'
for i in 1 2 3; do
	echo "{\"event_type\":\"tool\",\"inputs\":{\"i\":$i},\"event_name\":\"poison\"}"
done | "$TSCLI" --socket "$SOCK" send --batch 1 >/dev/null 2>&1
check "three more dead letters" wait_for 15 stat_is dead_letters 3
first=$(TRACESPOOL_SPOOL_DIR=$SPOOL "$TSCLI" dlq list --json | jq -r '.[0].id')
cli dlq purge "$first" --spool-dir "$SPOOL"
check_eq "dlq purge ID" "0 purged 1 dead letter" "$RC $(cat "$OUT")"
check_eq "two dead letters left" 2 "$(stat_field dead_letters)"
cli dlq purge --all --spool-dir "$SPOOL"
check_eq "dlq purge --all" "0 purged 2 dead letters" "$RC $(cat "$OUT")"
check_eq "no dead letters after purge --all" 0 "$(stat_field dead_letters)"

# dlq and spool on a stopped daemon.
upstream_ctl '{"mode":"reject_name","name":"poison","status":400}'
echo '{"event_type":"tool","inputs":{},"event_name":"poison"}' |
	"$TSCLI" --socket "$SOCK" send >/dev/null 2>&1
check "one more dead letter" wait_for 15 stat_is dead_letters 1
ts_stop_daemon
check_eq "daemon stops" 0 $?
cli dlq list --spool-dir "$SPOOL"
check "dlq list works on a stopped daemon's spool" grep -q poison "$OUT"
cli dlq replay --all --spool-dir "$SPOOL"
check_eq "dlq replay --all on a stopped daemon" "0 replayed 1 dead letter to the spool" "$RC $(cat "$OUT")"
cli spool --json --spool-dir "$SPOOL"
check_eq "the replayed event waits in the spool" "0 1" "$(jq -r '.dead_letters, .spool_events' "$OUT" | xargs)"
cli status --socket "$SOCK"
check_eq "status with the daemon stopped exits 69" 69 "$RC"

# --- send waits out a full spool (503 + Retry-After) ----------------------
rm -rf "$SPOOL"
upstream_ctl '{"mode":"status","status":500}'
export TRACESPOOL_API_KEY=test-key
ts_start_daemon --set spool_max_bytes=1M --set retry_initial=100ms --set retry_max=500ms ||
	{ not_ok "daemon starts with a 1M spool"; ts_done; }
unset TRACESPOOL_API_KEY
pad=$(head -c 3000 /dev/zero | tr '\0' 'p')
printf '{"event":{"event_type":"chain","inputs":{"pad":"%s"}}}' "$pad" >"$TMP/ev.json"
check "the spool is full" fill_spool /events "$TMP/ev.json" 600
echo '{"event_type":"chain","inputs":{},"event_name":"cli-late"}' >"$TMP/late.jsonl"
"$TSCLI" --socket "$SOCK" send "$TMP/late.jsonl" >"$OUT" 2>"$ERR" &
send_pid=$!
TS_PIDS+=("$send_pid")
wait_for 10 grep -q 'daemon busy' "$ERR"
check "send waits on 503, saying so" grep -q 'daemon busy' "$ERR"
upstream_ctl '{"mode":"ok"}'
wait "$send_pid"
check_eq "send gets in once the spool drains" "0 accepted 1, rejected 0" "$? $(cat "$OUT")"
ts_stop_daemon

ts_done
