#!/usr/bin/env bash
# run.sh: runs every fuzz target for FUZZ_SECONDS on its seed corpus; prints "N passed, N failed".
# Usage: FUZZ_BUILD=build/fuzz FUZZ_SECONDS=60 FUZZ_JOBS=1 tests/fuzz/run.sh [name-filter]
#
# Each target starts from the committed seeds in tests/fuzz/corpus/NAME
# (every one of them runs first, so a seed that once crashed is a regression
# test) plus what earlier runs found in $FUZZ_BUILD/corpus/NAME, where new
# inputs go. A crash, a leak, a sanitizer report, a timeout of 10 s on one
# input or an invariant violation fails the target; the input is saved under
# $FUZZ_BUILD/artifacts/NAME/. With FUZZ_JOBS > 1 the target forks that many
# workers (libFuzzer's -fork) that share the corpus.
set -u
cd "$(dirname "$0")/../.." || exit 1
FUZZ_BUILD=${FUZZ_BUILD:-build/fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_JOBS=${FUZZ_JOBS:-1}
filter=${1:-}
passed=0
failed=0

for bin in "$FUZZ_BUILD"/fuzz_*; do
	[ -x "$bin" ] || continue
	target=$(basename "$bin")
	name=${target#fuzz_}
	case "$target" in *"$filter"*) ;; *) continue ;; esac
	seeds=tests/fuzz/corpus/$name
	work=$FUZZ_BUILD/corpus/$name
	arts=$FUZZ_BUILD/artifacts/$name
	log=$FUZZ_BUILD/$target.log
	mkdir -p "$work" "$arts"
	args=(-max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048
		-max_len=16384 -print_final_stats=1 -artifact_prefix="$arts/")
	[ -f "tests/fuzz/$name.dict" ] && args+=(-dict="tests/fuzz/$name.dict")
	[ "$FUZZ_JOBS" -gt 1 ] && args+=(-fork="$FUZZ_JOBS")
	echo "== fuzz: $target for ${FUZZ_SECONDS}s on $FUZZ_JOBS job(s), seeds $seeds"
	"$bin" "${args[@]}" "$work" "$seeds" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	if [ -z "$runs" ]; then
		# -fork prints no final stats; its last status line has them.
		runs=$(grep -a -E '^#[0-9]+' "$log" | tail -1 | sed 's/^#\([0-9]*\).*/\1/')
		speed=$(grep -a -E '^#[0-9]+.*exec/s' "$log" | tail -1 |
			sed 's/.*exec\/s:\{0,1\} *\([0-9]*\).*/\1/')
	fi
	stats="${runs:-?} runs, ${speed:-?} exec/s, corpus $(find "$work" -type f | wc -l) inputs"
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		echo "ok - $target survives ${FUZZ_SECONDS}s of fuzzing without a crash, leak or invariant violation ($stats)"
	else
		failed=$((failed + 1))
		echo "not ok - $target survives ${FUZZ_SECONDS}s of fuzzing without a crash, leak or invariant violation: exit $rc ($stats)"
		grep -a -E 'ERROR|invariant violated|SUMMARY|Test unit written|#[0-9]+ +in ' "$log" | head -20 | sed 's/^/#   /'
		echo "#   reproduce: $bin <the input written above>; full log in $log"
	fi
done

if [ $((passed + failed)) -eq 0 ]; then
	echo "no fuzz target in $FUZZ_BUILD (run make fuzz)"
	failed=1
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
