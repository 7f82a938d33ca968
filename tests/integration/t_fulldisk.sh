#!/usr/bin/env bash
# t_fulldisk.sh: the spool on a small filesystem that fills up: 503 + Retry-After, no crash, nothing lost, ingest resumes by itself; drop_oldest counts evictions exactly.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup

# The spool lives on a 4 MiB filesystem mounted for this test alone: a
# tmpfs, or else a loop-mounted ext4 image. Always unmounted at exit.
MNT=$TMP/mnt
FS_SIZE=4m
FSKIND=
mount_small() {
	mkdir -p "$MNT"
	if mount -t tmpfs -o "size=$FS_SIZE,mode=0700" tmpfs "$MNT" 2>/dev/null; then
		FSKIND=tmpfs
		return 0
	fi
	rm -f "$TMP/fs.img"
	if truncate -s 8M "$TMP/fs.img" && mkfs.ext4 -q -F -m 0 "$TMP/fs.img" >/dev/null 2>&1 &&
		mount -o loop "$TMP/fs.img" "$MNT" 2>/dev/null; then
		chmod 700 "$MNT"
		FSKIND=ext4
		return 0
	fi
	return 1
}
umount_small() {
	if mountpoint -q "$MNT" 2>/dev/null; then
		umount "$MNT" 2>/dev/null || umount -l "$MNT"
	fi
}
# The daemon holds the mount's files: it goes first.
fd_cleanup() {
	ts_kill_all
	umount_small
	ts_cleanup
}
trap fd_cleanup EXIT

if ! mount_small; then
	for p in "a full disk answers 503 with Retry-After" "nothing acknowledged is lost on a full disk" \
		"ingest resumes by itself after the spool drains" "drop_oldest counts evictions exactly"; do
		skip "$p" "no permission to mount a small filesystem"
	done
	ts_done
fi
FS_BYTES=$(df -B1 --output=size "$MNT" | tail -1 | tr -d ' ')
echo "# spool on a $FSKIND of $FS_BYTES bytes"
umount_small

ts_start_upstream || { not_ok "fake upstream starts"; ts_done; }
export TRACESPOOL_API_KEY=good-key

alive() {
	kill -0 "$DAEMON_PID" 2>/dev/null
}
metric() {
	curl -s --max-time 5 --unix-socket "$SOCK" http://ts/metrics | sed -n "s/^$1 //p"
}

# A batch of 20 events of about 2 KB each.
pad=$(head -c 2000 /dev/zero | tr '\0' 'f')
jq -cn --arg pad "$pad" '{events: [range(0; 20) | {event_type: "chain", event_name: "fill", inputs: {i: ., pad: $pad}}]}' >"$TMP/batch.json"

# fill MAX: send batches until one is not answered 200 (at most MAX);
# acknowledged ids go to $TMP/acked, in order.
fill() {
	fill_spool /events/batch "$TMP/batch.json" "$1" "$TMP/acked"
}

# A small event is accepted: 200.
accepts() {
	req POST /events '{"event": {"event_type": "chain", "event_name": "after", "inputs": {}}}'
	[ "$STATUS" = 200 ] || return 1
	jget .event_id >>"$TMP/acked"
}

# full_case NAME MAX_BYTES WHEN_FULL WHAT: fill the spool with the upstream
# down, check the refusal, then let it drain and check recovery.
full_case() {
	local name=$1 max=$2 when=$3 what=$4 n cap
	mount_small || { not_ok "$name: the small filesystem mounts again"; return; }
	SPOOL=$MNT/spool
	: >"$TMP/acked"
	: >"$UPSTREAM_LOG"
	upstream_ctl '{"mode":"status","status":503}'
	ts_start_daemon "${FWD[@]}" --set spool_max_bytes="$max" --set when_full="$when" ||
		{ not_ok "$name: daemon starts on the small filesystem"; umount_small; return; }
	fill 400
	n=$(wc -l <"$TMP/acked")
	echo "# $name: $n events acknowledged before the refusal; $(df -h --output=used,avail "$MNT" | tail -1)"
	check_eq "$name: ingest answers 503 when $what, not 500" 503 "$STATUS"
	check "$name: the 503 carries Retry-After" grep -qi '^Retry-After: [0-9]' <<<"$HEADERS"
	check_eq "$name: the 503 body is the JSON spool error" "false spool" "$(jget .success) $(jget .error | cut -d: -f1)"
	fill 5
	check_eq "$name: later batches are refused the same way" 503 "$STATUS"
	check "$name: the daemon is still alive when $what" alive
	req GET /stats
	check_eq "$name: /stats still answers when $what" 200 "$STATUS"
	check_eq "$name: no commit failed: the spool refused before the disk did" 0 "$(jget .commit_errors)"
	cap=$(metric tracespool_spool_capacity_bytes)
	check "$name: tracespool_spool_capacity_bytes ($cap) is within the filesystem ($FS_BYTES)" \
		test "${cap:-0}" -gt 0 -a "${cap:-0}" -le "$FS_BYTES"

	upstream_ctl '{"mode":"ok"}'
	check "$name: the forwarder drains the spool when $what" wait_for 30 spool_empty
	check "$name: ingest resumes by itself once the spool drained" wait_for 20 accepts
	check "$name: every acknowledged event arrives upstream ($(wc -l <"$TMP/acked"))" wait_for 20 all_arrived
	check_eq "$name: no acknowledged event is lost" 0 "$(missing_ids | wc -l)"
	check "$name: the daemon never died" alive
	ts_stop_daemon
	check_eq "$name: SIGTERM exits 0 after the full disk" 0 $?
	umount_small
}

# drop_case NAME MAX_BYTES BATCHES WHAT: under drop_oldest every event is
# accepted, the oldest are evicted, and the count is exact: evicted = sent
# - (spooled + delivered), in /stats and in /metrics, before and after the
# drain; the events that arrive are exactly the newest.
drop_case() {
	local name=$1 max=$2 batches=$3 what=$4 sent spooled delivered ev
	mount_small || { not_ok "$name: the small filesystem mounts again"; return; }
	SPOOL=$MNT/spool
	: >"$TMP/acked"
	: >"$UPSTREAM_LOG"
	upstream_ctl '{"mode":"status","status":503}'
	ts_start_daemon "${FWD[@]}" --set spool_max_bytes="$max" --set when_full=drop_oldest ||
		{ not_ok "$name: daemon starts on the small filesystem"; umount_small; return; }
	fill "$batches"
	sent=$(wc -l <"$TMP/acked")
	check_eq "$name: drop_oldest accepts every event when $what" $((batches * 20)) "$sent"
	# A batch the forwarder read before the last evictions meets the 503
	# and is read again after its backoff.
	sleep 1
	spooled=$(stat_field spool_events)
	delivered=$(uploaded_ids | sort -u | wc -l)
	ev=$(stat_field evicted)
	echo "# $name: sent $sent, spooled $spooled, delivered $delivered, evicted $ev; $(df -h --output=used,avail "$MNT" | tail -1)"
	check "$name: the oldest events were evicted when $what ($ev)" test "$ev" -gt 0
	check_eq "$name: /stats evicted = sent - (spooled + delivered) = $sent - ($spooled + $delivered)" \
		$((sent - spooled - delivered)) "$ev"
	check_eq "$name: tracespool_events_evicted_total in /metrics is the same count" "$ev" \
		"$(metric tracespool_events_evicted_total)"
	check_eq "$name: no commit failed: eviction made room before the disk ran out" 0 "$(stat_field commit_errors)"
	upstream_ctl '{"mode":"ok"}'
	check "$name: the forwarder drains the rest" wait_for 30 spool_empty
	delivered=$(uploaded_ids | sort -u | wc -l)
	check_eq "$name: after the drain, evicted = sent - delivered = $sent - $delivered" \
		$((sent - delivered)) "$(metric tracespool_events_evicted_total)"
	check_eq "$name: the evicted events are the oldest; all the newer ones arrived" \
		"$(tail -n "$delivered" "$TMP/acked" | sort)" "$(uploaded_ids | sort -u)"
	check "$name: ingest goes on after the drain" accepts
	check "$name: the daemon never died" alive
	ts_stop_daemon
	check_eq "$name: SIGTERM exits 0" 0 $?
	umount_small
}

# The disk fills long before spool_max_bytes (64M on 4 MiB): the spool
# refuses while the filesystem still has room for the forwarder's deletes.
full_case disk 64M reject "the disk is full"
# spool_max_bytes (1 MiB) is the limit; the disk has room.
full_case cap 1M reject "spool_max_bytes is reached"
# The same two limits under when_full = drop_oldest.
drop_case disk-drop 64M 120 "the disk is full"
drop_case cap-drop 1M 60 "spool_max_bytes is reached"
ts_done
