#!/usr/bin/env bash
# t_permissions.sh: socket mode whatever the umask, a private spool, unsafe spool directories refused, allowed_uids/allowed_gids.
#
# Needs root (to chown to nobody and to act as nobody); skipped otherwise.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup

if [ "$(id -u)" -ne 0 ]; then
	skip "socket and spool permissions, allowed_uids and allowed_gids" \
		"not root: chown and acting as another user need root"
	ts_done
fi
NOBODY_UID=$(id -u nobody)
NOGROUP=$(id -gn nobody)

# ts_start_with_umask MASK [ARGS...]: the daemon started under that umask.
ts_start_with_umask() {
	local old rc
	old=$(umask)
	umask "$1"
	shift
	ts_start_daemon "$@"
	rc=$?
	umask "$old"
	return $rc
}

# 1. The socket gets socket_mode exactly, whatever the umask.
for mask in 000 077; do
	for mode in 0660 0600 0666; do
		rm -rf "$SPOOL"
		ts_start_with_umask "$mask" --set "socket_mode=$mode" || {
			not_ok "daemon starts under umask $mask with socket_mode $mode"
			continue
		}
		check_eq "socket mode is $mode under umask $mask" "${mode#0}" "$(stat -c %a "$SOCK")"
		ts_stop_daemon
	done
done

# 2. The spool is private even under umask 000: directory 0700, files 0600.
rm -rf "$SPOOL"
ts_start_with_umask 000 || {
	not_ok "daemon starts under umask 000"
	ts_done
}
req POST /events '{"event":{"event_type":"chain","inputs":{}}}'
check_eq "an event is spooled under umask 000" 200 "$STATUS"
check_eq "the spool directory it creates is 0700" 700 "$(stat -c %a "$SPOOL")"
loose=$(find "$SPOOL" -mindepth 1 -perm /077 -printf '%f %m\n')
check_eq "no spool file is readable or writable by group or others" "" "$loose"
check "the spool holds files (data.mdb)" test -f "$SPOOL/data.mdb"
ts_stop_daemon

# 3. A spool directory owned by another user, or writable by others, is
# refused at start with a message naming it, and exit status 1 (a runtime
# failure: the configuration is valid, the directory is not safe).
refused_start() {
	timeout 10 "$TSD" -c /dev/null --set "socket=$SOCK" --set "spool_dir=$1" \
		>"$TMP/refused.out" 2>&1
}
rm -f "$SOCK"
mkdir -m 0700 "$TMP/others"
chown nobody "$TMP/others"
refused_start "$TMP/others"
check_eq "a spool directory owned by nobody: exit status 1" 1 $?
check "the message names the directory and its owner" \
	grep -q "spool_dir $TMP/others: owned by uid $NOBODY_UID" "$TMP/refused.out"
check "nothing was written into it" test -z "$(ls -A "$TMP/others")"
mkdir -m 0700 "$TMP/open"
chmod 0777 "$TMP/open"
refused_start "$TMP/open"
check_eq "a world-writable spool directory: exit status 1" 1 $?
check "the message says it is writable by others" \
	grep -q "spool_dir $TMP/open: writable by others (mode 0777)" "$TMP/refused.out"
chmod 1777 "$TMP/open"
refused_start "$TMP/open"
check_eq "a sticky world-writable spool directory is refused too" 1 $?
check "no socket is left behind by a refused start" test ! -e "$SOCK"

# 4. allowed_uids / allowed_gids, from the configuration file so that SIGHUP
# can change them. The socket lives where nobody can reach it (mode 0666).
chmod 0711 "$TMP"
mkdir -m 0755 "$TMP/pub"
SOCK=$TMP/pub/ts.sock
CONF=$TMP/peers.conf
printf 'socket_mode = 0666\nallowed_uids = 4242\n' >"$CONF"
rm -rf "$SPOOL"
port=$((20000 + RANDOM % 20000))
ts_start_daemon -c "$CONF" --set "listen_tcp=127.0.0.1:$port" || {
	not_ok "daemon starts with allowed_uids"
	ts_done
}
EV='{"event":{"event_type":"tool","inputs":{}}}'
# as_nobody [setpriv group options] -- CURL ARGS: prints the status; the
# body goes to NB_BODY_FILE, which nobody can write.
NB_BODY_FILE=$TMP/pub/nb.body
install -m 0644 -o nobody /dev/null "$NB_BODY_FILE"
as_nobody() {
	local opts=()
	while [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	shift
	setpriv --reuid=nobody --regid="$NOGROUP" "${opts[@]}" \
		curl -s --max-time 5 -o "$NB_BODY_FILE" -w '%{http_code}' "$@"
}
post_as_nobody() {
	as_nobody "$@" -- --unix-socket "$SOCK" -H 'Content-Type: application/json' \
		--data-binary "$EV" http://ts/events
}
before=$(stat_field spool_events)
check_eq "nobody, not listed: 403" 403 "$(post_as_nobody --clear-groups)"
check_eq "the 403 says why, in the JSON error form" \
	"false peer: uid $NOBODY_UID not allowed" "$(jq -r '"\(.success) \(.error)"' "$NB_BODY_FILE")"
check_eq "nothing of a refused peer is spooled" "$before" "$(stat_field spool_events)"
check "the refusal is logged" grep -q "peer uid $NOBODY_UID gid [0-9]* is not allowed" "$DLOG"
refused=$(curl -s --unix-socket "$SOCK" http://ts/metrics | awk '$1 == "tracespool_connections_refused_total" {print $2}')
check_eq "/metrics counts the refused peer" 1 "$refused"
req POST /events "$EV"
check_eq "root is always allowed" 200 "$STATUS"
code=$(as_nobody --clear-groups -- -H 'Content-Type: application/json' \
	--data-binary "$EV" "http://127.0.0.1:$port/events")
check_eq "the TCP listener is not subject to the lists (no peer credentials)" 200 "$code"

printf 'socket_mode = 0666\nallowed_uids = 4242, nobody\n' >"$CONF"
kill -HUP "$DAEMON_PID"
reloaded() { grep -q "reload: allowed_uids changed" "$DLOG"; }
check "SIGHUP reloads allowed_uids" wait_for 5 reloaded
check_eq "nobody, listed by name after SIGHUP: 200" 200 "$(post_as_nobody --clear-groups)"

printf 'socket_mode = 0666\nallowed_gids = %s\n' "$NOGROUP" >"$CONF"
kill -HUP "$DAEMON_PID"
reloaded() { grep -q "reload: allowed_gids changed" "$DLOG"; }
check "SIGHUP reloads allowed_gids" wait_for 5 reloaded
check_eq "nobody, primary group listed: 200" 200 "$(post_as_nobody --clear-groups)"

printf 'socket_mode = 0666\nallowed_gids = users\n' >"$CONF"
kill -HUP "$DAEMON_PID"
sleep 0.5
check_eq "nobody, supplementary group users listed: 200" 200 "$(post_as_nobody --groups=users)"
check_eq "nobody without that group: 403" 403 "$(post_as_nobody --clear-groups)"

printf 'socket_mode = 0666\nallowed_uids = no-such-user-tsp\n' >"$CONF"
kill -HUP "$DAEMON_PID"
bad_reload() { grep -q 'allowed_uids: "no-such-user-tsp": no such user' "$DLOG"; }
check "a reload naming an unknown user is refused, saying so" wait_for 5 bad_reload
check_eq "and the running lists stay" 200 "$(post_as_nobody --groups=users)"
ts_stop_daemon
check_eq "SIGTERM exits 0" 0 $?

"$TSD" -c "$CONF" -t >/dev/null 2>"$TMP/check.err"
check_eq "tracespoold -t with an unknown user: exit 78" 78 $?
check "the configuration error names the key" grep -q "allowed_uids: \"no-such-user-tsp\": no such user" "$TMP/check.err"
ts_done
