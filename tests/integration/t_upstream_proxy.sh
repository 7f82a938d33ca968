#!/usr/bin/env bash
# t_upstream_proxy.sh: the API key never travels in clear text: a plain-http upstream that is not loopback needs upstream_allow_insecure, a plain-http upstream is never reached through a proxy, https goes through one only as a CONNECT tunnel, and the daemon cannot dump core.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup
KEY=proxy-test-key-5d1e9c
export TRACESPOOL_API_KEY=$KEY

stat_is() {
	[ "$(stat_field "$1")" = "$2" ]
}
# delivered NAME N: N events named NAME answered 200 with the daemon's key.
delivered() {
	[ "$(jq -r --arg k "Bearer $KEY" 'select(.answered == 200 and .path == "/events/batch" and
		.authorization == $k) | .body.events[].event_name' "$UPSTREAM_LOG" | grep -cx "$1")" -ge "$2" ]
}

# --- configuration ---------------------------------------------------------
"$TSD" -c /dev/null -t --set upstream_url=http://192.0.2.10:8080 >/dev/null 2>"$TMP/check.err"
check_eq "a plain-http upstream_url that is not loopback: exit 78" 78 $?
check "... naming upstream_url and the key that allows it" \
	grep -q 'upstream_url: plain http .*clear text.*upstream_allow_insecure = yes' "$TMP/check.err"
"$TSD" -c /dev/null -t --set upstream_url=http://api.example.com >/dev/null 2>&1
check_eq "... a host name too" 78 $?
timeout 10 "$TSD" -c /dev/null --set "socket=$TMP/x.sock" --set "spool_dir=$TMP/x" \
	--set upstream_url=http://192.0.2.10 >/dev/null 2>&1
check_eq "... and the daemon refuses to start with it (78)" 78 $?
check "... creating no spool" test ! -e "$TMP/x"
"$TSD" -c /dev/null -t --set upstream_url=http://192.0.2.10:8080 \
	--set upstream_allow_insecure=yes >/dev/null 2>&1
check_eq "upstream_allow_insecure = yes allows it" 0 $?
for url in http://127.0.0.1:8089 http://localhost:9 'http://[::1]:80' https://192.0.2.10; do
	"$TSD" -c /dev/null -t --set "upstream_url=$url" >/dev/null 2>&1
	check_eq "$url needs no upstream_allow_insecure" 0 $?
done
"$TSD" -c /dev/null -t | grep -q '^upstream_allow_insecure = no$'
check "-t prints upstream_allow_insecure = no by default" test $? -eq 0

# --- the fake proxy ---------------------------------------------------------
PLOG=$TMP/proxy.log
: >"$PLOG"
python3 tests/tools/fake_proxy.py "$TMP/proxy.port" "$PLOG" 2>"$TMP/proxy.err" &
TS_PIDS+=("$!")
wait_for 10 test -s "$TMP/proxy.port"
PPORT=$(cat "$TMP/proxy.port")
PROXY=http://127.0.0.1:$PPORT
check "the fake proxy listens" test -n "$PPORT"
# The fake proxy is honest: a proxied plain-http request reaches its log.
curl -s -o /dev/null --max-time 5 --proxy "$PROXY" -H "Authorization: Bearer probe-key" \
	http://127.0.0.1:9/events/batch
check "the fake proxy records a proxied request's key (it can see one)" grep -aq 'Bearer probe-key' "$PLOG"
: >"$PLOG"

# --- a plain-http upstream is never reached through a proxy -----------------
ts_start_upstream || {
	not_ok "fake upstream starts"
	ts_done
}
http_proxy=$PROXY HTTP_PROXY=$PROXY all_proxy=$PROXY ALL_PROXY=$PROXY \
	ts_start_daemon "${FWD[@]}" || {
	not_ok "daemon starts with the proxy in its environment"
	ts_done
}
check "events are accepted" post_events plain 3
check "with http_proxy and all_proxy set, a plain-http upstream gets the events directly" \
	wait_for 15 delivered plain 3
check_eq "the proxy received nothing at all" 0 "$(stat -c %s "$PLOG")"
check "the key is not in the proxy's log" bash -c "! grep -aq '$KEY' '$PLOG'"
ts_stop_daemon
kill "$UPSTREAM_PID" 2>/dev/null
wait "$UPSTREAM_PID" 2>/dev/null

# --- https goes through the proxy, as a tunnel -----------------------------
PKI=$TMP/pki
ts_make_ca "$PKI"
ts_start_upstream_tls "$PKI/srv.pem" "$PKI/srv.key" || {
	not_ok "the HTTPS fake upstream starts"
	ts_done
}
rm -rf "$SPOOL"
: >"$PLOG"
CONF=$TMP/ts.conf
printf 'ca_file = %s\n' "$PKI/ca.pem" >"$CONF"
https_proxy=$PROXY HTTPS_PROXY=$PROXY ts_start_daemon -c "$CONF" "${FWD[@]}" || {
	not_ok "daemon starts with https_proxy"
	ts_done
}
check "events are accepted" post_events tunnelled 3
check "an https upstream behind https_proxy gets the events" wait_for 15 delivered tunnelled 3
check "... through the proxy, as a CONNECT tunnel" grep -aq "^CONNECT 127.0.0.1:$UPSTREAM_PORT HTTP/1.1" "$PLOG"
check_eq "... and nothing but CONNECT in clear" "" \
	"$(grep -a -E '^(GET|POST|PUT) ' "$PLOG")"
check "the key is not in what the proxy saw" bash -c "! grep -aq '$KEY' '$PLOG'"
ts_stop_daemon

# A reload to a plain-http upstream elsewhere is refused like a start (the
# upstream from the file alone: ts_start_daemon's --set would win).
printf 'socket = %s\nspool_dir = %s\nupstream_url = %s\nca_file = %s\n' \
	"$SOCK" "$SPOOL" "$UPSTREAM_URL" "$PKI/ca.pem" >"$CONF"
rm -f "$SOCK"
"$TSD" -c "$CONF" "${FWD[@]}" >>"$DLOG" 2>&1 &
DAEMON_PID=$!
TS_PIDS+=("$DAEMON_PID")
check "the daemon starts with the upstream from its file" wait_for 10 bash -c \
	"curl -s --max-time 1 --unix-socket '$SOCK' http://ts/healthz | grep -q ok"
printf 'upstream_url = http://192.0.2.10:8080\n' >>"$CONF"
kill -HUP "$DAEMON_PID"
refused() { grep -q 'reload: configuration has errors' "$DLOG"; }
check "SIGHUP to a plain-http upstream that is not loopback is refused" wait_for 5 refused
check "... naming the key" grep -q 'reload: upstream_url: plain http.*upstream_allow_insecure' "$DLOG"
post_events kept-upstream 1
check "... and the running upstream stays" wait_for 15 delivered kept-upstream 1
ts_stop_daemon

# --- no core dumps ---------------------------------------------------------
# A process that is not dumpable has its /proc files owned by root, and no
# core file: checked on the daemon running as another user.
if [ "$(id -u)" -eq 0 ]; then
	chmod 0711 "$TMP"
	mkdir -m 0700 "$TMP/nb"
	chown nobody "$TMP/nb"
	setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups "$TSD" -c /dev/null \
		--set "socket=$TMP/nb/ts.sock" --set "spool_dir=$TMP/nb/spool" \
		--set "upstream_url=$UPSTREAM_URL" >>"$DLOG" 2>&1 &
	DAEMON_PID=$!
	TS_PIDS+=("$DAEMON_PID")
	wait_for 10 bash -c "curl -s --max-time 1 --unix-socket '$TMP/nb/ts.sock' http://ts/healthz | grep -q ok"
	check_eq "the daemon, running as nobody, is not dumpable (its /proc files are root's)" \
		root "$(stat -c %U "/proc/$DAEMON_PID/status")"
	check_eq "... for comparison, a process of nobody that is dumpable" nobody \
		"$(setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups \
			bash -c 'stat -c %U /proc/$$/status')"
	ts_stop_daemon
	check_eq "SIGTERM exits 0" 0 $?
else
	echo "ok - # SKIP dumpable check (needs root to run the daemon as another user)"
fi
ts_done
