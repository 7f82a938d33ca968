#!/usr/bin/env bash
# t_dlq_socket.sh: tracespool dlq list/show/replay/purge through a running daemon's socket: root, the daemon's user and admin_uids only, never over TCP; the files of a stopped daemon with --spool-dir.
#
# The parts that act as other users (nobody, uid 4243) need root; they
# are skipped otherwise.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup
export TRACESPOOL_API_KEY=daemon-key

OUT=$TMP/cli.out
ERR=$TMP/cli.err
CLIENT_KEY=app-secret-8f3a91c2
cli() {
	"$TSCLI" "$@" >"$OUT" 2>"$ERR"
	RC=$?
}
stat_is() {
	[ "$(stat_field "$1")" = "$2" ]
}
ROOT=0
[ "$(id -u)" -eq 0 ] && ROOT=1

ts_start_upstream || {
	not_ok "fake upstream starts"
	ts_done
}
# The socket in a folder anyone may enter, so that other users can reach it.
chmod 0711 "$TMP"
mkdir -m 0755 "$TMP/pub"
SOCK=$TMP/pub/ts.sock
CONF=$TMP/ts.conf
printf 'socket_mode = 0666\nforward_client_key = yes\n' >"$CONF"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ts_start_daemon -c "$CONF" "${FWD[@]}" --set "listen_tcp=127.0.0.1:$PORT" || {
	not_ok "daemon starts"
	ts_done
}
upstream_ctl '{"mode":"reject_name","name":"poison","status":400}'
for i in 1 2 3; do
	req POST /events "{\"event\":{\"event_type\":\"tool\",\"event_name\":\"poison\",\"inputs\":{\"i\":$i}}}" \
		-H "Authorization: Bearer $CLIENT_KEY"
done
check "three refused events become dead letters" wait_for 20 stat_is dead_letters 3

# --- root, through the socket ----------------------------------------------
cli --socket "$SOCK" dlq list
check_eq "dlq list through the socket exits 0 (no spool folder named)" 0 "$RC"
check "... with the header" grep -q '^ID .*DEAD SINCE .*STATUS .*EVENT_NAME' "$OUT"
check_eq "... and a line per dead letter" 3 "$(grep -c ' 400 .*poison' "$OUT")"
cli --socket "$SOCK" dlq list --json
check_eq "dlq list --json through the socket" "1 2 3" "$(jq -r '.[].id' "$OUT" | xargs)"
cp "$OUT" "$TMP/via-socket.json"
cli --spool-dir "$SPOOL" dlq list --json
check_eq "... the same objects as on the files (--spool-dir)" \
	"$(jq -S -c . "$OUT")" "$(jq -S -c . "$TMP/via-socket.json")"
TRACESPOOL_SOCKET=$SOCK "$TSCLI" dlq show 2 >"$OUT" 2>"$ERR"
check_eq "dlq show through \$TRACESPOOL_SOCKET exits 0" 0 $?
check "... gives the status" grep -q '^status: *400' "$OUT"
check "... and pretty-prints the event" grep -Eq '^[[:space:]]+"event_name":[[:space:]]*"poison"' "$OUT"
cli --socket "$SOCK" dlq show 2 --json
check_eq "dlq show --json through the socket" "2 400 poison" \
	"$(jq -r '"\(.id) \(.status) \(.event.event_name)"' "$OUT")"
check "the dead letters keep the client's key in the spool (so the next check means something)" \
	grep -aq "$CLIENT_KEY" "$SPOOL/data.mdb"
leaks=0
for args in "dlq list" "dlq list --json" "dlq show 1" "dlq show 1 --json"; do
	# shellcheck disable=SC2086
	"$TSCLI" --socket "$SOCK" $args 2>&1 | grep -q "$CLIENT_KEY" && leaks=$((leaks + 1))
	# shellcheck disable=SC2086
	"$TSCLI" --spool-dir "$SPOOL" $args 2>&1 | grep -q "$CLIENT_KEY" && leaks=$((leaks + 1))
done
check_eq "no dlq output shows a record's client key, by socket or files" 0 "$leaks"
req GET /dlq
check "... nor the daemon's /dlq answer" bash -c "! grep -q '$CLIENT_KEY' <<<'$BODY'"
check_eq "GET /dlq pages: next is null at the end" null "$(jget .next)"
req GET '/dlq?from=2&limit=1'
check_eq "GET /dlq?from=2&limit=1: one, and where the next page starts" "2 3" \
	"$(jget '"\(.dead_letters[0].id) \(.next)"')"
req GET '/dlq?limit=x'
check_eq "a bad query: 400" 400 "$STATUS"
req GET /dlq/99
check_eq "GET /dlq/99 of a missing one: 404" 404 "$STATUS"
req POST /dlq/purge '{"id":1,"all":true}'
check_eq "a purge body with both id and all: 400" 400 "$STATUS"
req DELETE /dlq/1
check_eq "another method: 405" 405 "$STATUS"
cli --socket "$SOCK" dlq show 99
check_eq "dlq show of a missing id through the socket exits 1" 1 "$RC"
check "... saying so" grep -q 'no dead letter 99' "$ERR"

# --- never over TCP --------------------------------------------------------
code=$(curl -s -o "$TMP/tcp.out" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/dlq")
check_eq "GET /dlq over listen_tcp: 403" 403 "$code"
check "... saying it is served on the Unix socket only" grep -q 'only on the daemon.s Unix socket' "$TMP/tcp.out"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Content-Type: application/json' \
	--data-binary '{"all":true}' "http://127.0.0.1:$PORT/dlq/purge")
check_eq "POST /dlq/purge over listen_tcp: 403" 403 "$code"
check_eq "... and nothing was purged" 3 "$(stat_field dead_letters)"
cli --url "http://127.0.0.1:$PORT" dlq list
check_eq "tracespool --url ... dlq list exits 1" 1 "$RC"
check "... with the daemon's refusal" grep -q '403' "$ERR"
cli --socket "$SOCK" --spool-dir "$SPOOL" dlq list
check_eq "--socket with --spool-dir is a usage error" 2 "$RC"

# --- the default socket ----------------------------------------------------
# /run/tracespool/tracespool.sock, in a private mount namespace over /run.
if [ "$ROOT" = 1 ] && unshare -m true 2>/dev/null; then
	unshare -m bash -c "mount -t tmpfs tmpfs /run && mkdir /run/tracespool &&
		ln -s '$SOCK' /run/tracespool/tracespool.sock && '$TSCLI' dlq list --json" >"$OUT" 2>"$ERR"
	check_eq "dlq list on the default socket (/run/tracespool/tracespool.sock)" "0 1 2 3" \
		"$? $(jq -r '.[].id' "$OUT" 2>/dev/null | xargs)"
else
	echo "ok - # SKIP the default socket (needs root and unshare)"
fi

# --- who may: root, the daemon's user, admin_uids --------------------------
if [ "$ROOT" = 1 ]; then
	NOBODY_UID=$(id -u nobody)
	NOGROUP=$(id -gn nobody)
	as() {
		local uid=$1
		shift
		setpriv --reuid="$uid" --regid="$NOGROUP" --clear-groups "$TSCLI" "$@" >"$OUT" 2>"$ERR"
		RC=$?
	}
	as nobody --socket "$SOCK" dlq list
	check_eq "nobody, not in admin_uids: dlq list exits 1" 1 "$RC"
	check "... with the 403 naming the uid" grep -q "403: dlq: uid $NOBODY_UID may not manage dead letters" "$ERR"
	as nobody --socket "$SOCK" dlq purge --all
	check_eq "nobody: dlq purge --all exits 1" 1 "$RC"
	check_eq "... and nothing was purged" 3 "$(stat_field dead_letters)"
	check "the refusal is logged" grep -q "dlq: uid $NOBODY_UID is not in admin_uids" "$DLOG"
	printf 'socket_mode = 0666\nforward_client_key = yes\nadmin_uids = nobody\n' >"$CONF"
	kill -HUP "$DAEMON_PID"
	reloaded() { grep -q 'reload: admin_uids changed' "$DLOG"; }
	check "SIGHUP reloads admin_uids" wait_for 5 reloaded
	as nobody --socket "$SOCK" dlq list --json
	check_eq "nobody in admin_uids: dlq list" "0 1 2 3" "$RC $(jq -r '.[].id' "$OUT" | xargs)"
	as nobody --socket "$SOCK" dlq purge 1
	check_eq "nobody in admin_uids: dlq purge 1" "0 purged 1 dead letter" "$RC $(cat "$OUT")"
	check "the purge is logged with the uid" grep -q "dlq: uid $NOBODY_UID purged 1 dead letter" "$DLOG"
	# allowed_uids restricts senders; an admin still gets in.
	printf 'socket_mode = 0666\nforward_client_key = yes\nadmin_uids = nobody\nallowed_uids = 4242\n' >"$CONF"
	kill -HUP "$DAEMON_PID"
	reloaded() { grep -q 'reload: allowed_uids changed' "$DLOG"; }
	check "SIGHUP reloads allowed_uids" wait_for 5 reloaded
	as nobody --socket "$SOCK" dlq list --json
	check_eq "an admin not in allowed_uids still gets in" "0 2 3" "$RC $(jq -r '.[].id' "$OUT" | xargs)"
	as 4243 --socket "$SOCK" dlq list
	check "... and a user in neither list does not" grep -q 'peer: uid 4243 not allowed' "$ERR"
else
	echo "ok - # SKIP other users (needs root)"
fi

# --- replay and purge through the socket -----------------------------------
upstream_ctl '{"mode":"ok"}'
left=$(stat_field dead_letters)
cli --socket "$SOCK" dlq replay --all
check_eq "dlq replay --all through the socket" "0 replayed $left dead letters to the spool" "$RC $(cat "$OUT")"
check_eq "... the store is empty" 0 "$(stat_field dead_letters)"
poison_ok() {
	[ "$(jq -r 'select(.answered == 200) | .body.events[]?.event_name' "$UPSTREAM_LOG" | grep -c '^poison$')" -ge "$left" ]
}
check "... and the forwarder delivers them" wait_for 20 poison_ok
check "... with the client's own key" bash -c \
	"jq -r 'select(.answered == 200 and .path == \"/events/batch\") | .authorization' '$UPSTREAM_LOG' | grep -qx 'Bearer $CLIENT_KEY'"
upstream_ctl '{"mode":"reject_name","name":"poison","status":422}'
req POST /events '{"event":{"event_type":"tool","event_name":"poison","inputs":{}}}'
check "a new dead letter" wait_for 20 stat_is dead_letters 1
id=$(curl -s --unix-socket "$SOCK" http://ts/dlq | jq -r '.dead_letters[0].id')
cli --socket "$SOCK" dlq purge "$id"
check_eq "dlq purge ID through the socket" "0 purged 1 dead letter" "$RC $(cat "$OUT")"
cli --socket "$SOCK" dlq replay "$id"
check_eq "replaying a purged id exits 1" 1 "$RC"
cli --socket "$SOCK" dlq list
check_eq "dlq list of an empty store" "0 no dead letters" "$RC $(cat "$OUT")"

# --- a stopped daemon: the socket answers nothing, the files do ------------
req POST /events '{"event":{"event_type":"tool","event_name":"poison","inputs":{}}}'
check "one more dead letter" wait_for 20 stat_is dead_letters 1
ts_stop_daemon
cli --socket "$SOCK" dlq list
check_eq "dlq list on a stopped daemon's socket exits 69" 69 "$RC"
check "... pointing at --spool-dir" grep -q 'spool-dir' "$ERR"
cli --spool-dir "$SPOOL" dlq list
check_eq "dlq list --spool-dir on the stopped daemon's files" 0 "$RC"
check "... lists it" grep -q ' 422 .*poison' "$OUT"
cli --spool-dir "$SPOOL" dlq purge --all
check_eq "dlq purge --all --spool-dir" "0 purged 1 dead letter" "$RC $(cat "$OUT")"

# --- under socket activation: the TCP socket systemd passes is TCP too -----
ACT=$TMP/pub/act.sock
APORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# shellcheck disable=SC2046
systemd-socket-activate -l "$ACT" -l "127.0.0.1:$APORT" $(ts_wrap) "$TSD" -c /dev/null \
	--set "socket=$TMP/own.sock" --set "spool_dir=$SPOOL" \
	--set "upstream_url=$UPSTREAM_URL" >>"$DLOG" 2>&1 &
DAEMON_PID=$!
TS_PIDS+=("$DAEMON_PID")
wait_for 10 test -S "$ACT"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$ACT" http://ts/dlq)
check_eq "socket activation: GET /dlq on the passed Unix socket: 200" 200 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$APORT/dlq")
check_eq "socket activation: GET /dlq on the passed TCP socket: 403" 403 "$code"
ts_stop_daemon
check_eq "SIGTERM exits 0" 0 $?

# --- the daemon's own user -------------------------------------------------
if [ "$ROOT" = 1 ]; then
	chown -R nobody "$SPOOL"
	mkdir -m 0755 "$TMP/pub/nb"
	chown nobody "$TMP/pub/nb"
	SOCK=$TMP/pub/nb/ts.sock
	setpriv --reuid=nobody --regid="$NOGROUP" --clear-groups "$TSD" -c /dev/null \
		--set "socket=$SOCK" --set socket_mode=0666 --set "spool_dir=$SPOOL" \
		--set "upstream_url=$UPSTREAM_URL" >>"$DLOG" 2>&1 &
	DAEMON_PID=$!
	TS_PIDS+=("$DAEMON_PID")
	wait_for 10 bash -c "curl -s --max-time 1 --unix-socket '$SOCK' http://ts/healthz | grep -q ok"
	as nobody --socket "$SOCK" dlq list
	check_eq "the daemon's own user (nobody here) may: dlq list" "0 no dead letters" "$RC $(cat "$OUT")"
	as 4243 --socket "$SOCK" dlq list
	check_eq "another user may not" 1 "$RC"
	check "... 403" grep -q '403: dlq: uid 4243 may not' "$ERR"
	cli --socket "$SOCK" dlq list
	check_eq "root always may" 0 "$RC"
	ts_stop_daemon
	check_eq "SIGTERM exits 0" 0 $?
fi
ts_done
