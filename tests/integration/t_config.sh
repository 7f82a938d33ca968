#!/usr/bin/env bash
# t_config.sh: flags, exit codes, precedence and redaction of the daemon's configuration.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup

"$TSD" --version | grep -q '^tracespoold ' ; check_eq "--version exits 0" 0 $?
"$TSD" --bogus >/dev/null 2>&1; check_eq "unknown flag exits 2" 2 $?
"$TSD" -c "$TMP/missing.conf" -t >/dev/null 2>"$TMP/err"; check_eq "missing named config exits 78" 78 $?
printf 'no_such_key = 1\n' >"$TMP/bad.conf"
"$TSD" -c "$TMP/bad.conf" -t >/dev/null 2>"$TMP/err"; check_eq "unknown key exits 78" 78 $?
check "error names the unknown key" grep -q no_such_key "$TMP/err"
"$TSD" -c /dev/null --set spool_max_bytes=12Q -t >/dev/null 2>"$TMP/err"; check_eq "bad size exits 78" 78 $?
check "error names the key with the bad value" grep -q spool_max_bytes "$TMP/err"

printf 'batch_max_events = 10\nflush_interval = 1s\n' >"$TMP/prec.conf"
out=$(TRACESPOOL_BATCH_MAX_EVENTS=20 "$TSD" -c "$TMP/prec.conf" -t)
check_eq "environment beats the file" "batch_max_events = 20" "$(grep '^batch_max_events' <<<"$out")"
out=$(TRACESPOOL_BATCH_MAX_EVENTS=20 "$TSD" -c "$TMP/prec.conf" --set batch_max_events=30 -t)
check_eq "--set beats the environment" "batch_max_events = 30" "$(grep '^batch_max_events' <<<"$out")"
check_eq "the file beats the default" "flush_interval = 1s" "$(grep '^flush_interval' <<<"$out")"

echo 'super-secret-key' >"$TMP/key"
out=$(TRACESPOOL_API_KEY=env-secret-key "$TSD" -c /dev/null --set "api_key_file=$TMP/key" -t 2>&1)
check "-t never prints the key" bash -c "! grep -q -e super-secret-key -e env-secret-key <<<'$out'"
check "-t prints every contract key" bash -c "for k in socket socket_mode listen_tcp spool_dir spool_max_bytes when_full sync sync_interval max_event_bytes max_body_bytes max_event_age upstream_url api_key_file batch_max_events batch_max_bytes flush_interval retry_initial retry_max request_timeout ca_file default_project log_level; do grep -q \"^\$k =\" <<<'$out' || exit 1; done"

"$TSD" -c /dev/null --set listen_tcp=10.1.2.3:8080 -t >/dev/null 2>"$TMP/err"; check_eq "non-loopback listen_tcp refused" 78 $?
"$TSD" -c /dev/null --set listen_tcp=10.1.2.3:8080 --set listen_tcp_allow_remote=yes -t >/dev/null 2>&1; check_eq "non-loopback listen_tcp allowed explicitly" 0 $?

# A second daemon on the same spool is refused; so is a foreign socket.
ts_start_daemon || { not_ok "daemon starts"; ts_done; }
"$TSD" -c /dev/null --set "socket=$TMP/other.sock" --set "spool_dir=$SPOOL" >"$TMP/second.log" 2>&1
check_eq "second daemon on the same spool exits 1" 1 $?
check "it says the spool is in use" grep -q 'in use' "$TMP/second.log"
"$TSD" -c /dev/null --set "socket=$SOCK" --set "spool_dir=$TMP/spool2" >"$TMP/third.log" 2>&1
check_eq "second daemon on a live socket exits 1" 1 $?
check "it says another daemon answers" grep -q 'another daemon answers' "$TMP/third.log"
ts_stop_daemon

# listen_tcp serves the same API on loopback.
port=$((20000 + RANDOM % 20000))
ts_start_daemon --set "listen_tcp=127.0.0.1:$port" || { not_ok "daemon starts with listen_tcp"; ts_done; }
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Content-Type: application/json' \
	--data-binary '{"event":{"event_type":"chain","inputs":{}}}' "http://127.0.0.1:$port/events")
check_eq "listen_tcp accepts events" 200 "$code"
ts_stop_daemon
ts_done
