#!/usr/bin/env bash
# run.sh: runs the unit tests and the integration scenarios, and prints "N passed, N failed, N skipped".
# Usage: tests/run.sh [unit|integration] [name-filter]
set -u
BUILD=${BUILD:-build}
export BUILD
what=${1:-all}
filter=${2:-}
cd "$(dirname "$0")/.." || exit 1
passed=0
failed=0
skipped=0
failures=()

run_unit() {
	local bin out p f s
	for bin in "$BUILD"/tests/test_*; do
		[ -x "$bin" ] || continue
		case "$bin" in *"$filter"*) ;; *) continue ;; esac
		echo "== unit: $(basename "$bin")"
		out=$("$bin" 2>&1)
		rc=$?
		echo "$out" | grep -E '^\[  (FAILED|ERROR) |^\[  (PASSED|SKIPPED)|^\[==========\] .* run' || true
		p=$(echo "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
		f=$(echo "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
		s=$(echo "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | tail -1)
		p=${p:-0}
		f=${f:-0}
		s=${s:-0}
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			# crashed or a sanitizer stopped it: count it as one failure
			f=1
			echo "$out" | tail -40
		elif [ "$f" -ne 0 ]; then
			echo "$out" | grep -B2 -A8 -E 'FAILED|ERROR|error:' | head -60
		fi
		passed=$((passed + p))
		failed=$((failed + f))
		skipped=$((skipped + s))
		[ "$f" -eq 0 ] || failures+=("unit $(basename "$bin")")
	done
}

# Scripts whose timing bounds or load would suffer beside another: they
# run alone, after the others.
SOLO="t_hostile.sh t_drain.sh t_crashloop.sh"
# Scripts mostly wait (on timers, the daemon, the fake upstream): TS_JOBS
# of them run side by side (default 2, this machine's cores).
JOBS=${TS_JOBS:-2}

# run_script SCRIPT DIR: run one scenario, keeping its output and status.
run_script() {
	local t=$1 dir=$2 name
	name=$(basename "$t")
	timeout 600 bash "$t" >"$dir/$name.out" 2>&1
	echo $? >"$dir/$name.rc"
}

# report SCRIPT DIR: print and count one finished scenario.
report() {
	local t=$1 dir=$2 name out rc p f s
	name=$(basename "$t")
	out=$(cat "$dir/$name.out")
	rc=$(cat "$dir/$name.rc")
	echo "== integration: $name"
	echo "$out" | grep -E '^(ok|not ok|#)' || true
	# "ok - NAME # SKIP WHY" is a check that could not run here.
	s=$(echo "$out" | grep -c '^ok .*# SKIP' || true)
	p=$(($(echo "$out" | grep -c '^ok ' || true) - s))
	f=$(echo "$out" | grep -c '^not ok ' || true)
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "$out" | tail -30
	fi
	if [ "$f" -ne 0 ]; then
		echo "-- output of $name (last lines):"
		echo "$out" | grep -v -E '^(ok|#)' | tail -40
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	[ "$f" -eq 0 ] || failures+=("integration $name")
}

run_integration() {
	local t dir shared=() solo=() running=0
	dir=$(mktemp -d /tmp/tsrun.XXXXXX)
	for t in tests/integration/t_*.sh; do
		[ -f "$t" ] || continue
		case "$t" in *"$filter"*) ;; *) continue ;; esac
		case " $SOLO " in
		*" $(basename "$t") "*) solo+=("$t") ;;
		*) shared+=("$t") ;;
		esac
	done
	for t in "${shared[@]+"${shared[@]}"}"; do
		if [ "$running" -ge "$JOBS" ]; then
			wait -n
			running=$((running - 1))
		fi
		run_script "$t" "$dir" &
		running=$((running + 1))
	done
	wait
	for t in "${solo[@]+"${solo[@]}"}"; do
		run_script "$t" "$dir"
	done
	for t in "${shared[@]+"${shared[@]}"}" "${solo[@]+"${solo[@]}"}"; do
		report "$t" "$dir"
	done
	rm -rf "$dir"
}

case "$what" in
unit) run_unit ;;
integration) run_integration ;;
all)
	run_unit
	run_integration
	;;
*)
	echo "usage: tests/run.sh [unit|integration|all] [filter]" >&2
	exit 2
	;;
esac

for f in "${failures[@]+"${failures[@]}"}"; do
	echo "FAILED: $f"
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
