#!/usr/bin/env bash
# t_inspect_readonly.sh: tracespool spool and dlq list/show on the files, run as root, never create or chown a file in the daemon user's spool, with or without lock.mdb, daemon stopped or running.
#
# Needs root (the spool belongs to nobody, inspected by root); skipped otherwise.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup
export TRACESPOOL_API_KEY=daemon-key

if [ "$(id -u)" -ne 0 ]; then
	echo "# not root: skipping (the point is root inspecting another user's spool)"
	ts_done
fi
NOGROUP=$(id -gn nobody)
OUT=$TMP/cli.out
stat_is() {
	[ "$(stat_field "$1")" = "$2" ]
}
# Every entry of the spool folder with its owner, group and mode.
tree() {
	find "$SPOOL" -printf '%P %u:%g %m\n' | sort
}
# inspect: every offline inspection command, as root; all must succeed.
inspect() {
	local bad=0 args
	for args in "spool" "spool --json" "dlq list" "dlq list --json" "dlq show 1" "dlq show 1 --json"; do
		# shellcheck disable=SC2086
		"$TSCLI" --spool-dir "$SPOOL" $args >"$OUT" 2>&1 || {
			echo "# tracespool $args: $(head -c 300 "$OUT")"
			bad=$((bad + 1))
		}
	done
	return $bad
}
# start_as_nobody: the daemon as the spool's owner, as systemd runs it.
start_as_nobody() {
	setpriv --reuid=nobody --regid="$NOGROUP" --clear-groups "$TSD" -c /dev/null \
		--set "socket=$SOCK" --set "spool_dir=$SPOOL" --set "upstream_url=$UPSTREAM_URL" \
		"${FWD[@]}" >>"$DLOG" 2>&1 &
	DAEMON_PID=$!
	TS_PIDS+=("$DAEMON_PID")
	wait_for 10 bash -c "curl -s --max-time 1 --unix-socket '$SOCK' http://ts/healthz >/dev/null"
}

# A spool with events and a dead letter, then handed to nobody.
ts_start_upstream || {
	not_ok "fake upstream starts"
	ts_done
}
chmod 0711 "$TMP"
ts_start_daemon "${FWD[@]}" || {
	not_ok "daemon starts"
	ts_done
}
upstream_ctl '{"mode":"reject_name","name":"poison","status":400}'
req POST /events '{"event":{"event_type":"tool","event_name":"poison","inputs":{}}}'
check "a dead letter" wait_for 20 stat_is dead_letters 1
upstream_ctl '{"mode":"status","status":503}'
req POST /events '{"event":{"event_type":"chain","event_name":"waiting","inputs":{}}}'
ts_stop_daemon
chown -R nobody:"$NOGROUP" "$SPOOL"
mkdir -m 0700 "$TMP/run"
chown nobody "$TMP/run"
SOCK=$TMP/run/ts.sock

# 1. lock.mdb missing (deleted, or a copied data.mdb), daemon stopped.
rm -f "$SPOOL/lock.mdb"
before=$(tree)
inspect
check_eq "as root, spool and dlq list/show on a spool without lock.mdb all work" 0 $?
check "... and show the dead letter" bash -c "'$TSCLI' --spool-dir '$SPOOL' dlq show 1 | grep -q '^status: *400'"
check "... and the waiting event" bash -c "'$TSCLI' --spool-dir '$SPOOL' spool --json | jq -e '.spool_events == 1 and .dead_letters == 1' >/dev/null"
check "no lock.mdb was created" test ! -e "$SPOOL/lock.mdb"
check_eq "no file appeared, no owner or mode changed" "$before" "$(tree)"
start_as_nobody
check "the daemon, as the spool's user, still starts afterwards" \
	bash -c "curl -s --max-time 1 --unix-socket '$SOCK' http://ts/healthz | grep -q ok"
check_eq "... and owns the lock.mdb it created" "nobody" "$(stat -c %U "$SPOOL/lock.mdb")"

# 2. The daemon running, lock.mdb there: inspection beside it.
before=$(tree)
inspect
check_eq "as root, inspection beside the running daemon works" 0 $?
check_eq "... and changes no file, owner or mode" "$before" "$(tree)"
ts_stop_daemon
check_eq "the daemon stops cleanly" 0 $?

# 3. Daemon stopped, lock.mdb there.
before=$(tree)
inspect
check_eq "as root, inspection of a stopped daemon's spool works" 0 $?
check_eq "... and changes no file, owner or mode" "$before" "$(tree)"
start_as_nobody
check "the daemon starts again as the spool's user" \
	bash -c "curl -s --max-time 1 --unix-socket '$SOCK' http://ts/healthz | grep -q ok"
ts_stop_daemon
ts_done
