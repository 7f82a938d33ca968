#!/usr/bin/env bash
# t_tcp_guard.sh: listen_tcp refuses what a web page in a local browser would send (Origin 403, a foreign Host 421, a non-JSON POST 415); SDK-style requests and the Unix socket are untouched.
#
# Loopback is not a trust boundary for browsers: any page can POST to
# http://127.0.0.1:PORT with Content-Type text/plain and no CORS
# preflight, and DNS rebinding gives it a name of its own that resolves to
# 127.0.0.1. The daemon would spool that event and forward it under the
# organisation's key.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ts_start_daemon --set "listen_tcp=127.0.0.1:$PORT" || {
	not_ok "daemon starts with listen_tcp"
	ts_done
}
URL=http://127.0.0.1:$PORT
EV='{"event": {"event_type": "chain", "inputs": {"q": "from tcp"}}}'

# tcp NAME WANT [curl args...]: one request to listen_tcp; checks the
# status, and that a refusal is the JSON error body and closes.
tcp() {
	local name=$1 want=$2 code
	shift 2
	code=$(curl -s --max-time 5 -o "$TMP/tcp.body" -D "$TMP/tcp.headers" -w '%{http_code}' "$@")
	check_eq "$name: $want" "$want" "$code"
	if [ "$want" -ge 400 ]; then
		check_eq "$name: the error is JSON" false "$(jq -r .success "$TMP/tcp.body" 2>/dev/null)"
		check "$name: the connection is closed" grep -qi '^connection: close' "$TMP/tcp.headers"
	fi
}

before=$(stat_field spool_events)
# What the SDKs send: JSON, a loopback Host, no Origin.
tcp "SDK-style POST" 200 -H 'Content-Type: application/json' --data-binary "$EV" "$URL/events"
tcp "JSON with a charset" 200 -H 'Content-Type: application/json; charset=utf-8' --data-binary "$EV" "$URL/events"
tcp "Host localhost" 200 -H 'Content-Type: application/json' --data-binary "$EV" "http://localhost:$PORT/events"
tcp "GET /healthz" 200 "$URL/healthz"
# A protobuf type gets past the check (to whatever the route says).
code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-protobuf' --data-binary 'x' "$URL/v1/traces")
check "protobuf content type is not refused as such (answered $code)" test "$code" != 415
check_eq "the three accepted events are spooled" $((before + 3)) "$(stat_field spool_events)"

# What a web page sends.
before=$(stat_field spool_events)
tcp "a page's fetch with Origin" 403 -H 'Origin: https://evil.example' -H 'Content-Type: application/json' \
	--data-binary "$EV" "$URL/events"
check "the 403 says why ($(jq -r .error "$TMP/tcp.body"))" grep -q 'origin: requests from web pages' "$TMP/tcp.body"
tcp "Origin: null (a sandboxed page)" 403 -H 'Origin: null' "$URL/stats"
tcp "a form post (text/plain, no preflight)" 415 -H 'Content-Type: text/plain' --data-binary "$EV" "$URL/events"
check "the 415 names the types taken ($(jq -r .error "$TMP/tcp.body"))" grep -q 'application/json' "$TMP/tcp.body"
tcp "urlencoded form" 415 --data-binary "$EV" "$URL/events"
tcp "multipart form" 415 -F "event=$EV" "$URL/events"
tcp "PUT without a content type" 415 -X PUT -H 'Content-Type:' --data-binary '{"event_id": "7f22137a-6911-4ed3-bc36-110f1dde6b66"}' "$URL/events"
# DNS rebinding: the attacker's name resolves to 127.0.0.1.
tcp "a rebound name in Host" 421 --resolve "evil.example:$PORT:127.0.0.1" -H 'Content-Type: application/json' \
	--data-binary "$EV" "http://evil.example:$PORT/events"
check "the 421 says why ($(jq -r .error "$TMP/tcp.body"))" grep -q 'host: not a loopback' "$TMP/tcp.body"
tcp "a LAN address in Host" 421 -H 'Host: 192.168.1.10' "$URL/stats"
tcp "no Host at all (HTTP/1.0)" 400 -0 -H 'Host:' "$URL/stats"
check_eq "nothing refused was spooled" "$before" "$(stat_field spool_events)"

# The Unix socket takes what it took before: only local users reach it.
req POST /events "$EV" -H 'Origin: https://evil.example' -H 'Content-Type: text/plain' -H 'Host: evil.example'
check_eq "the Unix socket is not checked" 200 "$STATUS"

ts_stop_daemon
check_eq "SIGTERM exits 0" 0 $?
ts_done
