#!/usr/bin/env bash
# t_hostile.sh: hostile clients fail as designed while a well-behaved client's events are still acknowledged in time.
#
# Each attack runs from tests/tools/hostile.c while the well-behaved client
# sends 100 events, one connection each, 10 ms apart. Its latency under
# attack is compared with the same client's without one (the baseline):
# the p99 must stay under 20 times the baseline's (or 250 ms, whichever is
# larger: a baseline of a few milliseconds is mostly fsync jitter, and CI
# shares two cores with the attackers) and the slowest under 2 s. Starving
# would mean waiting for header_timeout or for a slot: seconds, not that. Every event it was told is spooled must be in the
# spool. The attackers run at nice 10: on a small machine, 100 attacking
# threads would otherwise take the CPU from the daemon and the client by
# sheer number, and what is measured here is the daemon's fairness.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
ts_setup

HOSTILE=${HOSTILE:-$BUILD/tests/hostile}
# Under valgrind or a sanitizer, times are not the daemon's own; under either,
# freed memory is kept in quarantine. Those checks then only
# report.
TIMING=1
MEMORY=1
[ "${TS_VALGRIND:-0}" = 1 ] || [ "${TS_SANITIZER:-0}" = 1 ] && TIMING=0
[ "${TS_VALGRIND:-0}" = 1 ] || [ "${TS_SANITIZER:-0}" = 1 ] && MEMORY=0
# Short deadlines, few connections: the attacks end quickly.
LIMITS=(--set max_connections=64 --set header_timeout=2s --set body_timeout=2s
	--set idle_timeout=60s --set log_level=info)
ts_start_daemon "${LIMITS[@]}" || {
	not_ok "daemon starts"
	ts_done
}

# kv KEY LINE: the value of KEY=... in a line of hostile's output.
kv() {
	sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2" | tail -1
}
mem_kb() {
	awk -v k="$1:" '$1 == k {print $2}' "/proc/$DAEMON_PID/status"
}
# cpu_ticks: the daemon's user + system time so far, in clock ticks.
cpu_ticks() {
	awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat"
}
HZ=$(getconf CLK_TCK)

# good NAME: the well-behaved client; sets GOOD (its output line).
good() {
	GOOD=$("$HOSTILE" -s "$SOCK" good -n 100 -i 10 -o "$TMP/good.$1" 2>>"$TMP/good.err")
	check_eq "$1: the well-behaved client's 100 events are all acknowledged" 100 "$(kv ok "$GOOD")"
}

# not_starved NAME: its p99 against the baseline's.
not_starved() {
	local p99 max ratio
	p99=$(kv p99_ms "$GOOD")
	max=$(kv max_ms "$GOOD")
	ratio=$(awk -v a="$p99" -v b="$BASE_P99" 'BEGIN {printf "%.1f", a / b}')
	echo "# $1: well-behaved p99 ${p99} ms, max ${max} ms; baseline p99 ${BASE_P99} ms; ratio ${ratio}x"
	[ "$TIMING" = 1 ] || return 0
	check "$1: the well-behaved client is not starved (p99 ${p99} ms = ${ratio}x baseline)" \
		awk -v a="$p99" -v m="$max" -v b="$BASE_P99" \
		'BEGIN {lim = 20 * b; if (lim < 250) lim = 250; exit !(a < lim && m < 2000)}'
}

# attack NAME ARGS...: hostile in the background; output in $TMP/NAME.out.
attack() {
	local name=$1
	shift
	nice -n 10 "$HOSTILE" -s "$SOCK" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	ATTACK_PID=$!
	TS_PIDS+=("$ATTACK_PID")
}
attack_wait() {
	wait "$ATTACK_PID"
	ATTACK=$(tail -1 "$TMP/$1.out")
	echo "# $1: $ATTACK"
}

# Baseline: a warm-up run, then the measured one.
"$HOSTILE" -s "$SOCK" good -n 20 -i 5 >/dev/null 2>&1
good baseline
BASE_P99=$(kv p99_ms "$GOOD")
echo "# baseline: $GOOD"

# 1,000 connections that send nothing, against max_connections = 64. At the
# cap a new connection takes the place of the one idle longest, so the
# attacker keeps 64 slots at most and never starves anyone; the ones it
# loses are closed. Measured twice: while its burst of connects is still
# being admitted (about 1,000 / 64 x 20 ms), then while it holds them.
attack idle idle -n 1000 -t 5
ready() { grep -q '^ready' "$TMP/idle.out"; }
check "idle: 1,000 connections opened" wait_for 10 ready
good idle-burst
echo "# idle-burst: well-behaved max $(kv max_ms "$GOOD") ms while the backlog of 1,000 drains"
[ "$TIMING" = 0 ] ||
	check "idle: during the burst of connects, every event answered within 2 s ($(kv max_ms "$GOOD") ms)" \
		awk -v m="$(kv max_ms "$GOOD")" 'BEGIN {exit !(m < 2000)}'
good idle-held
not_starved idle-held
open_now=$(curl -s --unix-socket "$SOCK" http://ts/metrics | awk '$1 == "tracespool_connections" {print $2}')
check "idle: at most max_connections are open ($open_now)" test "${open_now:-999}" -le 65
attack_wait idle
check "idle: the attacker lost all but 64 of its 1,000 connections ($(kv closed_by_server "$ATTACK") closed)" \
	test "$(kv closed_by_server "$ATTACK")" -ge 936
evicted=$(curl -s --unix-socket "$SOCK" http://ts/metrics | awk '$1 == "tracespool_connections_evicted_total" {print $2}')
check "idle: /metrics counts the evictions ($evicted)" test "${evicted:-0}" -ge 936

# One byte a second: 408 once header_timeout (2 s) has passed since the
# first byte, however many bytes keep coming.
attack trickle trickle -t 10
sleep 0.2
good trickle
not_starved trickle
attack_wait trickle
check_eq "trickle: answered 408" 408 "$(kv status "$ATTACK")"
check "trickle: after header_timeout, not later ($(kv after_ms "$ATTACK") ms)" \
	test "$(kv after_ms "$ATTACK")" -ge 1900 -a "$(kv after_ms "$ATTACK")" -le 3500

# A Content-Length the client never fills: 408 after body_timeout (2 s).
attack unfilled unfilled -b 1000 -t 10
sleep 0.2
good unfilled
not_starved unfilled
attack_wait unfilled
check_eq "unfilled body: answered 408" 408 "$(kv status "$ATTACK")"
check "unfilled body: after body_timeout ($(kv after_ms "$ATTACK") ms)" \
	test "$(kv after_ms "$ATTACK")" -ge 1900 -a "$(kv after_ms "$ATTACK")" -le 3500

# 100 MB with a Content-Length: 413 at once, from the headers alone.
# Again and again, for as long as the well-behaved client runs.
rss0=$(mem_kb VmRSS)
hwm0=$(mem_kb VmHWM)
attack big big -n 300 -b 104857600 -t 10
good big
not_starved big
attack_wait big
rss1=$(mem_kb VmRSS)
hwm1=$(mem_kb VmHWM)
echo "# big: daemon VmRSS ${rss0} -> ${rss1} kB, peak VmHWM ${hwm0} -> ${hwm1} kB"
check_eq "100 MB body: each of $(kv requests "$ATTACK") answered 413" 413 "$(kv status "$ATTACK")"
check "100 MB body: answered fast (slowest $(kv after_ms "$ATTACK") ms)" test "$(kv after_ms "$ATTACK")" -lt 1000
[ "$MEMORY" = 0 ] ||
	check "100 MB body: nothing buffered (peak RSS grew $((hwm1 - hwm0)) kB)" test $((hwm1 - hwm0)) -lt 4096

# 100 MB chunked, no length announced: 413 once max_body_bytes (16M) is
# in; the daemon holds at most that, and gives it back.
attack chunked big -k -n 15 -b 104857600 -t 10
good chunked
not_starved chunked
attack_wait chunked
rss2=$(mem_kb VmRSS)
hwm2=$(mem_kb VmHWM)
echo "# chunked: daemon VmRSS ${rss1} -> ${rss2} kB, peak VmHWM ${hwm1} -> ${hwm2} kB"
check_eq "100 MB chunked body: each of $(kv requests "$ATTACK") answered 413" 413 "$(kv status "$ATTACK")"
check "100 MB chunked body: refused once past max_body_bytes ($(kv sent_bytes "$ATTACK") bytes sent)" \
	test "$(kv sent_bytes "$ATTACK")" -lt $((40 * 1024 * 1024))
if [ "$MEMORY" = 1 ]; then
	check "100 MB chunked body: peak RSS grew by at most max_body_bytes + 8M ($((hwm2 - hwm1)) kB)" \
		test $((hwm2 - hwm1)) -lt $((24 * 1024))
	check "100 MB chunked body: the memory is given back (RSS ${rss1} -> ${rss2} kB)" \
		test $((rss2 - rss1)) -lt 4096
fi

# A million tiny requests on one keep-alive connection, 64 in flight at a
# time, for at most 20 s: each answered, in order, and the connection is
# not a privileged one (others are served in between).
attack flood flood -n 1000000 -w 64 -t 20
sleep 0.3
good flood
not_starved flood
attack_wait flood
sent=$(kv sent "$ATTACK")
if [ "$(kv answered "$ATTACK")" -lt 1000000 ]; then
	echo "# flood: a million did not fit in 20 s here; $(kv answered "$ATTACK") were sent in that time"
fi
check "flood: every request answered 200 ($(kv answered "$ATTACK") at $(kv rate "$ATTACK")/s)" \
	test "$(kv answered "$ATTACK")" = "$sent" -a "$(kv ok "$ATTACK")" = "$sent" -a "$sent" -gt 0
check_eq "flood: the connection stayed open" 0 "$(kv closed_by_server "$ATTACK")"

# One connection pipelines 16 MB of requests and reads no reply. While
# its replies wait, nothing of it is parsed, so reading stops: the daemon
# must not spin (libevent calls the read callback again and again while
# the input sits at its high watermark with reading on). The reply that
# cannot be written ends the connection at the write timeout
# (body_timeout, 2 s). CPU is measured over a second from /proc; the
# bound is loose, as CI shares two cores.
attack pipeline pipeline -b 16777216 -t 8
pipeline_ready() { grep -q '^ready' "$TMP/pipeline.out"; }
check "pipeline: the daemon stopped reading the attacker" wait_for 10 pipeline_ready
c0=$(cpu_ticks)
t0=$(date +%s%N)
sleep 1
c1=$(cpu_ticks)
t1=$(date +%s%N)
pct=$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v ns=$((t1 - t0)) 'BEGIN {printf "%.0f", 100 * c / hz / (ns / 1e9)}')
echo "# pipeline: $(head -1 "$TMP/pipeline.out"); daemon CPU ${pct}% of a core over the next second"
[ "$TIMING" = 0 ] ||
	check "pipeline: the daemon does not spin while replies wait (${pct}% of a core)" test "$pct" -lt 30
good pipeline
not_starved pipeline
attack_wait pipeline
check_eq "pipeline: the unread connection is closed at the write timeout" 1 "$(kv closed_by_server "$ATTACK")"

# 64 clients (max_connections) trickle valid requests, a byte every 20 ms
# (about 1.2 s a request), and start the next at once: never idle, never
# timed out, they would hold every slot. While the well-behaved client
# waits in the backlog, every connection is retired (closed after its
# next reply) and the request arriving longest is cut once it has taken
# 200 ms (503, Retry-After).
attack hog hog -c 64 -i 20 -t 8
hog_ready() { grep -q '^ready' "$TMP/hog.out"; }
check "hog: 64 trickling clients connected" wait_for 10 hog_ready
sleep 0.5
good hog
not_starved hog
attack_wait hog
check "hog: the trickling clients are served too ($(kv answered "$ATTACK") requests)" \
	test "$(kv answered "$ATTACK")" -gt 0
open_now=$(curl -s --unix-socket "$SOCK" http://ts/metrics | awk '$1 == "tracespool_connections" {print $2}')
echo "# hog: $(kv reconnects "$ATTACK") reconnects, $(kv requests_per_conn "$ATTACK") requests a connection; $open_now connections open now"

# 100 clients at once sending malformed requests of several kinds.
attack garbage garbage -c 100 -n 300
good garbage
not_starved garbage
attack_wait garbage
check "garbage: every malformed request answered 400 ($(kv status_400 "$ATTACK") of $(kv requests "$ATTACK"))" \
	test "$(kv status_400 "$ATTACK")" = "$(kv requests "$ATTACK")"

# 60 clients each send 15 MB of a body and hold the last byte (the audit
# took RSS to 908 MB in 2.4 s). max_buffered_bytes (64M by default) bounds
# the bodies held at once: 4 fit, the others are answered 503 with
# Retry-After from their headers, before their body is read; the held
# ones end at body_timeout.
hwm3=$(mem_kb VmHWM)
attack hold hold -c 60 -b 15728640 -t 5
good hold
not_starved hold
attack_wait hold
hwm4=$(mem_kb VmHWM)
echo "# hold: daemon peak VmHWM ${hwm3} -> ${hwm4} kB"
check "hold: the bodies past max_buffered_bytes are refused 503 + Retry-After ($(kv status_503 "$ATTACK") of 60)" \
	test "$(kv status_503 "$ATTACK")" -ge 50
[ "$MEMORY" = 0 ] ||
	check "hold: peak RSS grew by less than max_buffered_bytes + 32M ($((hwm4 - hwm3)) kB)" \
		test $((hwm4 - hwm3)) -lt $((96 * 1024))

# Nothing acknowledged is missing, and the daemon is as it was.
cat "$TMP"/good.* | sort -u >"$TMP/acked"
spool_dump | jq -r '.event.event_id' | sort -u >"$TMP/spooled"
check_eq "every acknowledged event of the well-behaved client is spooled" 0 \
	"$(comm -23 "$TMP/acked" "$TMP/spooled" | wc -l)"
req GET /healthz
check_eq "the daemon is healthy after all attacks" 200 "$STATUS"
ts_stop_daemon
check_eq "SIGTERM exits 0" 0 $?
ts_done
