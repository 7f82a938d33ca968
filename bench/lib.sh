# lib.sh: what the benchmark scripts share: the programs and tools they need, a private temporary folder, the processes they start, arithmetic.
# Sourced by run.sh, drain.sh and fleet.sh after they set BUILD and cd to
# the top of the tree.

# bench_need NAME PROGRAM... -- TOOL...: every program built and every
# tool on the PATH, or exit 1 naming what is missing.
bench_need() {
	local name=$1 p
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		[ -x "$1" ] || {
			echo "$name: $1 missing: run make bench (or make all and the bench programs)" >&2
			exit 1
		}
		shift
	done
	[ "${1:-}" = -- ] && shift
	for p in "$@"; do
		command -v "$p" >/dev/null || {
			echo "$name: $p is needed" >&2
			exit 1
		}
	done
}

# bench_tmp NAME: a private folder in $TMP, removed at exit with every
# process whose pid is in PIDS (killed first, all of them, then waited).
bench_tmp() {
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/ts$1.XXXXXX")
	chmod 700 "$TMP"
	PIDS=()
	trap bench_cleanup EXIT
	trap 'exit 1' INT TERM
}

bench_cleanup() {
	local p
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$TMP"
}

# bench_cpu_ticks PID...: the CPU time these processes have used, user
# and system (fields 14 and 15 of /proc/PID/stat; the threads that have
# ended are in it), in clock ticks (getconf CLK_TCK a second). A process
# that is gone counts 0.
bench_cpu_ticks() {
	local p f=()
	for p in "$@"; do
		[ -r "/proc/$p/stat" ] && f+=("/proc/$p/stat")
	done
	[ ${#f[@]} -gt 0 ] || {
		echo 0
		return
	}
	# The command name, field 2, is in parentheses and may hold spaces:
	# count the fields after its closing one (the state is field 3).
	awk '{ sub(/.*\) /, ""); t += $12 + $13 } END { print t + 0 }' "${f[@]}" 2>/dev/null
}

# bench_thread_ticks PID: each live thread's CPU time, as bench_cpu_ticks,
# as a JSON object {"TID": ticks, ...}.
bench_thread_ticks() {
	local d sep='' out='{'
	for d in /proc/"$1"/task/*; do
		[ -r "$d/stat" ] || continue
		out+="$sep\"${d##*/}\":$(bench_cpu_ticks "$1/task/${d##*/}")"
		sep=,
	done
	echo "$out}"
}

# bench_steal: the machine's CPU ticks stolen by the hypervisor, and all
# ticks, from /proc/stat ("steal total"). A virtual machine whose host
# takes its CPU back (a quota, other guests) stalls every thread at once:
# the latency tails of a run with several percent stolen are the host's.
bench_steal() {
	awk '/^cpu / { print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat
}

# bench_steal_pct "BEFORE" "AFTER": the share stolen between two readings.
bench_steal_pct() {
	echo "$1 $2" | awk '{ d = $4 - $2; printf "%.2f", (d > 0 ? 100 * ($3 - $1) / d : 0) }'
}

log() { echo "# $*" >&2; }
# calc EXPR: floating point arithmetic; is EXPR: its truth, as a status.
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
is() { awk "BEGIN { exit !($1) }"; }
