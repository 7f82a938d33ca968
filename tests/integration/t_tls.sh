#!/usr/bin/env bash
# t_tls.sh: an HTTPS upstream whose certificate comes from a CA the test makes: delivered with ca_file; without it verification fails, said in the log and /stats, nothing is lost, and a SIGHUP with ca_file delivers; a certificate for another name is refused too.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup
export TRACESPOOL_API_KEY=tls-key

stat_is() {
	[ "$(stat_field "$1")" = "$2" ]
}
reason_has() {
	stat_field forwarder_reason | grep -q "$1"
}
# delivered N: N events answered 200, each with the daemon's key.
delivered() {
	[ "$(jq -r 'select(.answered == 200 and .path == "/events/batch" and .authorization == "Bearer tls-key") |
		.body.events[].event_name' "$UPSTREAM_LOG" | grep -c .)" -ge "$1" ]
}

PKI=$TMP/pki
ts_make_ca "$PKI"
check "openssl makes a CA and a server certificate" test -s "$PKI/srv.pem"
ts_start_upstream_tls "$PKI/srv.pem" "$PKI/srv.key" || {
	not_ok "the HTTPS fake upstream starts"
	ts_done
}
UPSTREAM_CA=$PKI/ca.pem
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$PKI/ca.pem" "$UPSTREAM_URL/_count")
check_eq "the fake upstream answers over HTTPS, trusted through the test CA" 200 "$code"
curl -s -o /dev/null --max-time 5 "$UPSTREAM_URL/_count"
check_eq "... and an unconfigured client does not trust it (curl exit 60)" 60 $?

# 1. With ca_file: delivered.
CONF=$TMP/ts.conf
printf 'ca_file = %s\n' "$PKI/ca.pem" >"$CONF"
ts_start_daemon -c "$CONF" "${FWD[@]}" || {
	not_ok "daemon starts"
	ts_done
}
check "events are accepted" post_events with-ca 3
check "with ca_file, the events arrive over HTTPS with the key" wait_for 15 delivered 3
check "... and the spool drains" wait_for 10 stat_is spool_events 0
ts_stop_daemon

# 2. Without ca_file (the system store does not know the test CA).
rm -rf "$SPOOL"
: >"$UPSTREAM_LOG"
: >"$CONF"
ts_start_daemon -c "$CONF" "${FWD[@]}" || {
	not_ok "daemon starts without ca_file"
	ts_done
}
check "events are accepted while the upstream is untrusted" post_events no-ca 5
# The forwarder alternates between trying (sending) and waiting (backoff,
# with the reason): look until one snapshot shows the wait.
waiting_for_cert() {
	curl -s --max-time 5 --unix-socket "$SOCK" http://ts/stats >"$TMP/stats.json" &&
		jq -e '.forwarder_state == "backoff" and (.forwarder_reason | test("certificate"))' \
			"$TMP/stats.json" >/dev/null
}
check "/stats says why, in backoff: the certificate" wait_for 15 waiting_for_cert
echo "# forwarder_reason: $(jq -r .forwarder_reason "$TMP/stats.json")"
check "the log says why" grep -q 'forwarder: upstream unreachable (SSL certificate problem' "$DLOG"
check_eq "every event is kept" 5 "$(stat_field spool_events)"
check_eq "nothing reached the upstream's handler" 0 "$(grep -c . "$UPSTREAM_LOG")"

# 3. ca_file set, SIGHUP: delivered.
printf 'ca_file = %s\n' "$PKI/ca.pem" >"$CONF"
kill -HUP "$DAEMON_PID"
check "SIGHUP reloads ca_file" wait_for 5 grep -q 'reload: ca_file changed' "$DLOG"
check "after SIGHUP with ca_file, all five arrive" wait_for 15 delivered 5
check "... and the spool drains" wait_for 10 stat_is spool_events 0
check "... and the forwarder no longer waits" wait_for 5 stat_is forwarder_reason ''
ts_stop_daemon
check_eq "SIGTERM exits 0" 0 $?

# 4. A certificate from the trusted CA, but for another name: refused.
kill "$UPSTREAM_PID" 2>/dev/null
wait "$UPSTREAM_PID" 2>/dev/null
ts_start_upstream_tls "$PKI/other.pem" "$PKI/other.key" || {
	not_ok "the HTTPS fake upstream starts with the other certificate"
	ts_done
}
rm -rf "$SPOOL"
ts_start_daemon -c "$CONF" "${FWD[@]}" || {
	not_ok "daemon starts"
	ts_done
}
check "events are accepted" post_events wrong-name 2
check "a certificate for another name is refused, saying so" \
	wait_for 15 reason_has 'subject name\|does not match\|no alternative'
echo "# forwarder_reason: $(stat_field forwarder_reason)"
check_eq "... and the events are kept" 2 "$(stat_field spool_events)"
check_eq "... none reached the upstream's handler" 0 "$(grep -c . "$UPSTREAM_LOG")"
ts_stop_daemon
ts_done
