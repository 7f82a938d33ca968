#!/usr/bin/env bash
# t_systemd.sh: make install, the units (verify, security), socket activation, and the notify protocol.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup

ROOT=$TMP/root
UNITS=$ROOT/usr/lib/systemd/system

# --- make install into a private root --------------------------------------
# -o all: install what $BUILD holds, never rebuild it with other flags.
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -o all install \
	DESTDIR="$ROOT" PREFIX=/usr BUILD="$BUILD" >"$TMP/install.log" 2>&1
check_eq "make install DESTDIR=... PREFIX=/usr succeeds" 0 $?
for f in usr/sbin/tracespoold usr/bin/tracespool \
	usr/lib/systemd/system/tracespoold.service \
	usr/lib/systemd/system/tracespoold.socket \
	usr/lib/sysusers.d/tracespool.conf \
	usr/share/man/man1/tracespool.1 usr/share/man/man5/tracespoold.conf.5 \
	usr/share/man/man8/tracespoold.8 etc/tracespool/tracespoold.conf.example; do
	check "make install puts /$f in place" test -s "$ROOT/$f"
done
check_eq "the example configuration is readable by the service user" 644 \
	"$(stat -c %a "$ROOT/etc/tracespool/tracespoold.conf.example")"
for m in "$ROOT"/usr/share/man/man*/*; do
	groff -mdoc -ww -z "$m" >"$TMP/groff.out" 2>&1
	check_eq "$(basename "$m") formats without a groff warning" "" "$(cat "$TMP/groff.out")"
done

# --- the units -------------------------------------------------------------
# The root is a system image: it gets the host's own target units and
# kill(1), which every real system has; the units and man pages are ours.
mkdir -p "$ROOT/usr/bin"
ln -s usr/bin "$ROOT/bin"
cp "$(type -P kill)" "$ROOT/usr/bin/kill"
cp /lib/systemd/system/*.target "$UNITS/"
verify() {
	MANPATH=$ROOT/usr/share/man systemd-analyze verify --root="$ROOT" "$@" \
		>"$TMP/verify.out" 2>&1
}
verify tracespoold.socket tracespoold.service
check_eq "systemd-analyze verify passes on the installed units" 0 $?
check_eq "... and has nothing to say about them" "" "$(cat "$TMP/verify.out")"
# The same check catches a broken unit: it is not vacuous.
sed 's|^ExecStart=.*|ExecStart=/usr/sbin/tracespoold-missing|' \
	"$UNITS/tracespoold.service" >"$UNITS/tsbroken.service"
sed 's|^Documentation=.*|Documentation=man:tracespool-missing(8)|' \
	"$UNITS/tracespoold.socket" >"$UNITS/tsbroken2.socket"
sed -i 's|^Service=.*|Service=tsbroken.service|' "$UNITS/tsbroken2.socket"
verify tsbroken.service
check "verify fails for a missing ExecStart binary" test $? -ne 0
verify tsbroken2.socket
check "verify fails for a missing man page" grep -q 'tracespool-missing(8)' "$TMP/verify.out"
rm -f "$UNITS/tsbroken.service" "$UNITS/tsbroken2.socket"

svc=$UNITS/tracespoold.service
sock=$UNITS/tracespoold.socket
for kv in Type=notify NotifyAccess=main Restart=on-failure WatchdogSec= \
	StateDirectory=tracespool RuntimeDirectory=tracespool \
	LoadCredential=api_key: User=tracespool ProtectSystem=strict \
	NoNewPrivileges=yes MemoryDenyWriteExecute=yes CapabilityBoundingSet= \
	"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" \
	SystemCallFilter=@system-service LimitCORE=0; do
	check "the service sets $kv" grep -q "^$kv" "$svc"
done
check "the service starts the installed daemon" \
	grep -q '^ExecStart=/usr/sbin/tracespoold\b' "$svc"
# make install ships only the example: the unit's command line must work
# without /etc/tracespool/tracespoold.conf (a file named with -c must exist).
if [ ! -e /etc/tracespool/tracespoold.conf ]; then
	# shellcheck disable=SC2046
	"$ROOT"$(sed -n 's/^ExecStart=//p' "$svc") -t >"$TMP/execstart.out" 2>&1
	check_eq "the unit's ExecStart runs with no configuration file (-t)" 0 $?
fi
# The units and the daemon's defaults name the same places.
defaults=$("$TSD" -t -c /dev/null)
dsock=$(sed -n 's/^socket = //p' <<<"$defaults")
dspool=$(sed -n 's/^spool_dir = //p' <<<"$defaults")
check_eq "the socket unit listens on the daemon's default socket" \
	"ListenStream=$dsock" "$(grep '^ListenStream=/' "$sock")"
check_eq "the socket unit listens on the OTLP/HTTP port, loopback only" \
	"ListenStream=127.0.0.1:4318" "$(grep '^ListenStream=[0-9]' "$sock")"
check_eq "StateDirectory is the default spool_dir" /var/lib/tracespool "$dspool"
check "the socket has a mode and a group" grep -q '^SocketMode=0660' "$sock"
check "... and the group" grep -q '^SocketGroup=tracespool' "$sock"

systemd-analyze security --offline=true --root="$ROOT" tracespoold.service \
	>"$TMP/security.out" 2>&1
score=$(sed -n 's/.*Overall exposure level for tracespoold.service: \([0-9.]*\).*/\1/p' "$TMP/security.out")
echo "# systemd-analyze security: exposure $score"
check "systemd-analyze security rates the service 1.2 or better (got ${score:-none})" \
	awk -v s="${score:-99}" 'BEGIN { exit !(s <= 1.2) }'
# What a network daemon cannot give up: its sockets, the network, the
# host's root, an upstream whose addresses are not known in advance, and
# the clock device ProtectClock= itself allows. PrivateUsers= would hide
# the clients' uids from allowed_uids.
systemd-analyze security --offline=true --root="$ROOT" --json=short \
	tracespoold.service >"$TMP/security.json" 2>/dev/null
open=$(jq -r '.[] | select(.set == false and (.exposure // 0) > 0) | .name' "$TMP/security.json" |
	grep -v -x -e 'RootDirectory=/RootImage=' -e 'RestrictAddressFamilies=~AF_UNIX' \
		-e 'RestrictAddressFamilies=~AF_(INET|INET6)' -e 'PrivateNetwork=' \
		-e 'IPAddressDeny=' -e 'DeviceAllow=' -e 'PrivateUsers=' | tr '\n' ' ')
check "the security review lists its checks" test "$(jq length "$TMP/security.json")" -gt 50
check_eq "no other exposure is left open" "" "$open"

systemd-sysusers --root="$ROOT" >"$TMP/sysusers.out" 2>&1
check_eq "systemd-sysusers accepts the sysusers.d file" 0 $?
check "... and creates the tracespool user with the spool as home" \
	grep -q '^tracespool:x:[0-9]*:[0-9]*:.*:/var/lib/tracespool:' "$ROOT/etc/passwd"

# --- socket activation -----------------------------------------------------
ACT=$TMP/act.sock
# Both sockets of tracespoold.socket: the Unix one and a loopback TCP port
# (4318 in the unit; a free one here).
APORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# shellcheck disable=SC2046
systemd-socket-activate -l "$ACT" -l "127.0.0.1:$APORT" $(ts_wrap) "$TSD" -c /dev/null \
	--set "socket=$TMP/own.sock" --set "spool_dir=$SPOOL" \
	--set upstream_url=http://127.0.0.1:9 >>"$DLOG" 2>&1 &
DAEMON_PID=$!
TS_PIDS+=("$DAEMON_PID")
wait_for 10 test -S "$ACT"
check "systemd-socket-activate listens on $ACT" test -S "$ACT"
SOCK=$ACT
req POST /events '{"event":{"event_type":"chain","event_name":"activated","inputs":{"q":1}}}'
check_eq "an event POSTed on the activation socket is accepted" 200 "$STATUS"
act_id=$(jget .event_id)
check_eq "... and it is in the spool" activated \
	"$(spool_dump | jq -r --arg id "$act_id" 'select(.event.event_id == $id) | .event.event_name')"
check "the daemon says it took both sockets from systemd" \
	grep -q 'listening on 2 socket(s) from systemd' "$DLOG"
code=$(curl -s -o "$TMP/otlp.out" -w '%{http_code}' --max-time 10 \
	-H 'Content-Type: application/json' --data-binary '{"resourceSpans":[]}' \
	"http://127.0.0.1:$APORT/v1/traces")
check_eq "an OTLP export on the activated TCP socket is answered 200" 200 "$code"
check_eq "... with an empty ExportTraceServiceResponse" '{}' "$(cat "$TMP/otlp.out")"
check "it did not create a socket of its own" test ! -e "$TMP/own.sock"
req GET /healthz
check_eq "a second connection is served too" 200 "$STATUS"
ts_stop_daemon
check_eq "SIGTERM under socket activation exits 0" 0 $?

# --- the notify protocol ---------------------------------------------------
NSOCK=$TMP/notify.sock
NLOG=$TMP/notify.log
SOCK=$TMP/ts.sock
SPOOL=$TMP/spool2
cat >"$TMP/notify.py" <<'EOF'
# A stand-in for systemd's notify socket: every message, one line per
# assignment, with a millisecond time. On READY=1 it asks the daemon's
# socket whether it answers right now.
import socket, sys, time
path, out, daemon = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(out, "a", buffering=1) as f:
    while True:
        msg = s.recv(65536).decode(errors="replace")
        now = int(time.monotonic() * 1000)
        lines = [l for l in msg.split("\n") if l]
        for l in lines:
            f.write("%d %s\n" % (now, l))
        if "READY=1" in lines:
            try:
                c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                c.settimeout(5)
                c.connect(daemon)
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: ts\r\nConnection: close\r\n\r\n")
                ans = c.recv(64).decode(errors="replace").split("\r\n")[0]
                c.close()
            except OSError as e:
                ans = "error: %s" % e
            f.write("%d AT-READY %s\n" % (now, ans))
EOF
: >"$NLOG"
python3 "$TMP/notify.py" "$NSOCK" "$NLOG" "$SOCK" 2>"$TMP/notify.err" &
TS_PIDS+=("$!")
wait_for 5 test -S "$NSOCK"
check "the notify listener is up" test -S "$NSOCK"

notified() {
	grep -q " $1\$" "$NLOG"
}
notified_like() {
	grep -Eq " $1" "$NLOG"
}

# WATCHDOG_PID must be the daemon's own pid: bash execs into it.
# shellcheck disable=SC2016,SC2046
NOTIFY_SOCKET=$NSOCK WATCHDOG_USEC=400000 bash -c 'export WATCHDOG_PID=$$; exec "$@"' _ \
	$(ts_wrap) "$TSD" -c /dev/null --set "socket=$SOCK" --set "spool_dir=$SPOOL" \
	--set upstream_url=http://127.0.0.1:9 >>"$DLOG" 2>&1 &
DAEMON_PID=$!
TS_PIDS+=("$DAEMON_PID")
check "READY=1 is sent" wait_for 10 notified READY=1
wait_for 10 grep -q ' AT-READY ' "$NLOG"
check_eq "at READY=1 the socket already answers" "HTTP/1.1 200 OK" \
	"$(sed -n 's/^[0-9]* AT-READY //p' "$NLOG" | head -1)"
check "STATUS= names the spool depth and the forwarder's state" \
	wait_for 5 notified_like 'STATUS=spool 0 events, 0 dead; forwarder paused: no API key'
body=$(jq -cn '{events: [range(0; 3) | {event_type: "chain", inputs: {i: .}}]}')
req POST /events/batch "$body"
check "STATUS= follows the spool as it fills" wait_for 5 notified_like 'STATUS=spool 3 events'
sleep 2
wd=$(grep -c ' WATCHDOG=1$' "$NLOG")
check "WATCHDOG=1 pings come repeatedly (got $wd)" test "$wd" -ge 5
# Pinged at half of WATCHDOG_USEC: every gap is well inside 400 ms.
gaps=$(awk '/ WATCHDOG=1$/ { if (p) print $1 - p; p = $1 }' "$NLOG" | sort -n)
maxgap=$(tail -1 <<<"$gaps")
midgap=$(sed -n "$(((wd + 1) / 2))p" <<<"$gaps")
check "no watchdog gap reaches WATCHDOG_USEC (longest ${maxgap:-none} ms)" \
	test "${maxgap:-400}" -lt 400
check "pings come about every 200 ms (median ${midgap:-none} ms)" \
	test "${midgap:-0}" -ge 150 -a "${midgap:-0}" -le 300
kill -HUP "$DAEMON_PID"
check "SIGHUP is announced with RELOADING=1" wait_for 5 notified RELOADING=1
check "... and READY=1 follows when it is done" \
	wait_for 5 bash -c "[ \$(grep -c ' READY=1\$' '$NLOG') -ge 2 ]"
check_eq "READY=1 came once before the reload" 1 \
	"$(sed -n '1,/ RELOADING=1$/p' "$NLOG" | grep -c ' READY=1$')"
ts_stop_daemon
check_eq "SIGTERM exits 0" 0 $?
check "STOPPING=1 is sent on SIGTERM" notified STOPPING=1
check "STATUS= says it is stopping" notified_like 'STATUS=stopping'

# Without WATCHDOG_USEC there are no pings.
: >"$NLOG"
NOTIFY_SOCKET=$NSOCK ts_start_daemon || not_ok "daemon starts without a watchdog"
check "READY=1 without a watchdog" wait_for 10 notified READY=1
check "the socket file the last run left was removed as stale" \
	grep -q "socket $SOCK: removed a stale socket file" "$DLOG"
sleep 1
check_eq "no WATCHDOG=1 when no watchdog is set" 0 "$(grep -c ' WATCHDOG=1$' "$NLOG")"
ts_stop_daemon
check_eq "SIGTERM exits 0 again" 0 $?
check_eq "the events acknowledged earlier are still spooled" 3 \
	"$(spool_dump | jq -r 'select(.event.inputs.i != null) | .event.event_id' | wc -l)"

# make install leaves an empty credential so that LoadCredential= lets the
# unit start; the daemon then spools and the forwarder waits for a key.
check_eq "make install creates an empty api_key, mode 0600" "600 0" \
	"$(stat -c '%a %s' "$ROOT/etc/tracespool/api_key")"
unset TRACESPOOL_API_KEY
CREDENTIALS_DIRECTORY=$ROOT/etc/tracespool ts_start_daemon ||
	not_ok "daemon starts with an empty credential"
no_key() { [ "$(stat_field forwarder_reason)" = "no API key" ]; }
check "an empty credential means no key yet: forwarding waits" wait_for 10 no_key
req POST /events '{"event":{"event_type":"chain","inputs":{}}}'
check_eq "... and events are still spooled" 200 "$STATUS"
ts_stop_daemon

ts_done
