#!/usr/bin/env bash
# fleet.sh: a fleet of daemons against one rate-limited remote that goes down and comes back: does the fleet flatten it, and how fast does it drain?
#
# FLEET_DAEMONS daemons (default 50) run on this machine, each with its own
# socket, spool (spool_max_bytes 16M) and key (fleet-N), each with a
# backlog of FLEET_EVENTS events (default 3,000: 30 requests of 100). The
# remote is bench/sink: every answer FLEET_RTT_MS after its request
# (default 50), at most FLEET_RATE requests a second answered 200 (R,
# default 100), the rest 429 with Retry-After: FLEET_RETRY_AFTER (default
# 1). It is off (connections refused) when the daemons start, for
# FLEET_OUTAGE_S seconds (default 10), then on. From that moment the sink's
# request log gives, per second, what the remote saw. Twice: without
# upload_rate_limit, and with it at 90% of the fair share
# (0.9 x R x 100 / daemons events a second).
#
# Reported per run: the peak and mean request rate the remote saw (the
# peak over the seconds after the first, against R and the goal R + 20%),
# the share of 429s, the time until every event was accepted against the
# ideal backlog / R (goal: within 1.5x), and starvation: the longest a
# daemon went without an accepted request, and the first and last daemon
# to finish. Everything runs as this user's children in a temporary
# folder; each run takes the outage plus about the ideal time.
#
# Usage: bench/fleet.sh (after make all and the bench programs: make
# build/bench/sink build/bench/lmdb_probe, or make bench once). Knobs above,
# and FLEET_RUNS ("nocap cap", or one of them).
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.." || exit 1

N=${FLEET_DAEMONS:-50}
R=${FLEET_RATE:-100}
EVENTS=${FLEET_EVENTS:-6000}
OUTAGE=${FLEET_OUTAGE_S:-10}
RTT=${FLEET_RTT_MS:-50}
RA=${FLEET_RETRY_AFTER:-1}
RETRY_MAX=${FLEET_RETRY_MAX:-5s}
RUNS=${FLEET_RUNS:-nocap cap}
EVENT=tests/data/reference_event.json
TSD=$BUILD/tracespoold
SINK=$BUILD/bench/sink
PROBE=$BUILD/bench/lmdb_probe

. bench/lib.sh
bench_need fleet "$TSD" "$SINK" "$PROBE" -- curl
bench_tmp fleet

# One prefilled spool, copied for every daemon of every run.
"$PROBE" -d "$TMP/template" -f "$EVENTS" -e "$EVENT" -m 32 >/dev/null || exit 1
IDEAL=$(awk -v n="$N" -v e="$EVENTS" -v r="$R" 'BEGIN { printf "%.1f", n * e / 100 / r }')
CAP=$(awk -v n="$N" -v r="$R" 'BEGIN { printf "%d", 0.9 * r * 100 / n }')
log "$N daemons x $EVENTS events, remote at most $R requests/s ($RTT ms, Retry-After $RA), outage ${OUTAGE}s; ideal drain ${IDEAL}s"

# fleet_run TAG NAME [--set ...]: one run; prints its table row and keeps
# the sink's request log in $BUILD/bench/fleet/TAG.log.
fleet_run() {
	local tag=$1 name=$2 dir=$TMP/$1 line port spid i want got on_ms
	shift 2
	local dpids=()
	mkdir -p "$dir"
	coproc SINKP { exec "$SINK" -p 0 -L "$RTT" -R "$R" -A "$RA" -s "$dir/requests.log"; }
	# shellcheck disable=SC2153 # set by coproc
	spid=$SINKP_PID
	PIDS+=("$spid")
	read -r -t 10 line <&"${SINKP[0]}"
	port=${line#port=}
	kill -USR1 "$spid"
	for i in $(seq 1 "$N"); do
		cp -r "$TMP/template" "$dir/spool$i"
		TRACESPOOL_API_KEY=fleet-$i "$TSD" -c /dev/null --set "socket=$dir/d$i.sock" \
			--set "spool_dir=$dir/spool$i" --set spool_max_bytes=32M --set log_level=error \
			--set "upstream_url=http://127.0.0.1:$port" --set "retry_max=$RETRY_MAX" \
			"$@" >>"$dir/daemons.log" 2>&1 &
		dpids+=($!)
		PIDS+=($!)
	done
	for i in $(seq 1 "$N"); do
		for _ in $(seq 1 200); do
			curl -s -o /dev/null --max-time 1 --unix-socket "$dir/d$i.sock" http://ts/healthz && break
			sleep 0.05
		done
	done
	log "$name: $N daemons up; the remote is off for ${OUTAGE}s"
	sleep "$OUTAGE"
	kill -USR2 "$spid"
	want=$((N * EVENTS))
	got=0
	for _ in $(seq 1 $((OUTAGE * 10 + 600))); do
		sleep 1
		got=$(awk '$3 == 200 { n += $4 } END { print n + 0 }' "$dir/requests.log")
		[ "$got" -ge "$want" ] && break
	done
	log "$name: $got of $want events accepted"
	for i in "${dpids[@]}"; do
		kill "$i" 2>/dev/null
	done
	for i in "${dpids[@]}"; do
		wait "$i" 2>/dev/null
	done
	kill "$spid"
	wait "$spid" 2>/dev/null
	on_ms=$(awk '$2 == "on" { print $1; exit }' "$dir/requests.log")
	awk -v on="$on_ms" -v r="$R" -v ideal="$IDEAL" -v want="$EVENTS" -v name="$name" -v n="$N" '
		NF == 4 && $1 >= on {
			# Seconds of the sink clock, the windows its rate counts in.
			t = $1 - on; s = int($1 / 1000) - int(on / 1000); seen[s]++; total++
			if (s > last_s) last_s = s
			if ($3 != 200) { refused++; next }
			c = $2; done[c] += $4
			gap = t - (c in prev ? prev[c] : 0)
			if (!(c in finished) && gap > maxgap[c]) maxgap[c] = gap
			prev[c] = t
			if (done[c] >= want && !(c in finished)) finished[c] = t
			if (t > end) end = t
		}
		END {
			peak = 0
			for (s = 1; s <= last_s; s++) if (seen[s] > peak) { peak = seen[s]; peak_s = s }
			secs = int(end / 1000) + 1
			worst = 0; first = -1; lastf = 0; nf = 0
			for (c in maxgap) if (maxgap[c] > worst) worst = maxgap[c]
			for (c in finished) { nf++; if (first < 0 || finished[c] < first) first = finished[c]; if (finished[c] > lastf) lastf = finished[c] }
			printf "| %s | %d (%.2f R) | %d | %.1f | %.1f%% | %.1f s (%.2f x %.1f s) | %.1f s | %.1f / %.1f s | %d of %d |\n",
				name, peak, peak / r, seen[0], total / secs, 100 * refused / (total ? total : 1),
				end / 1000, end / 1000 / ideal, ideal, worst / 1000, first / 1000, lastf / 1000, nf, n
			over = peak > 1.2 * r ? "YES: goal missed" : "no"
			fast = end / 1000 <= 1.5 * ideal ? "yes" : "NO"
			printf("# %s: peak above R + 20%% (%d)? %s; drained within 1.5 x ideal? %s\n", name, 1.2 * r, over, fast) > "/dev/stderr"
		}' "$dir/requests.log"
	mkdir -p "$BUILD/bench/fleet"
	cp "$dir/requests.log" "$BUILD/bench/fleet/$tag.log"
	rm -rf "$dir"/spool* "$dir"/*.sock
}

echo "| run | peak req/s after the first second | first second | mean req/s | 429s | all accepted after | longest wait of a daemon | first / last daemon done | daemons done |"
echo "|---|---|---|---|---|---|---|---|---|"
for run in $RUNS; do
	case $run in
	nocap) fleet_run nocap "no upload_rate_limit" ;;
	cap) fleet_run cap "upload_rate_limit = $CAP/s" --set "upload_rate_limit=$CAP/s" ;;
	*) echo "fleet: unknown run $run" >&2 ;;
	esac
done
