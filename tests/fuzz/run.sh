#!/bin/bash
# Build the libFuzzer targets (clang, ASan + UBSan) into build-fuzz and run
# each for SECONDS (default 20) on a copy of its seed corpus
# tests/fuzz/corpus/<target>/ in a temp dir: the committed corpus is never
# written. Fails if any target crashes, leaks, hits undefined behaviour, or
# breaks one of its checks; the input that did it is kept in
# build-fuzz/artifacts/<target>/ with the command that replays it.
#
# Targets run FUZZ_JOBS at a time (default: one per core).
#
# Usage: tests/fuzz/run.sh [SECONDS] [TARGET...]
#   tests/fuzz/run.sh               every target, 20 s each (10 targets: under
#                                   2 minutes on 2 cores)
#   tests/fuzz/run.sh 600           every target, 10 min each (under an hour on 2 cores)
#   tests/fuzz/run.sh 3600 fuzz_z2m one target for an hour
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SECS="${1:-20}"
[ $# -gt 0 ] && shift
case "$SECS" in
'' | *[!0-9]*)
	echo "usage: $0 [SECONDS] [TARGET...]" >&2
	exit 2
	;;
esac

# clang and its libFuzzer runtime (Debian: clang, libclang-rt-14-dev).
"$ROOT/deploy/install-deps.sh"

BUILD="$ROOT/build-fuzz"
CC=clang cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWITH_FUZZ=ON \
	-DWITH_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" >/dev/null

# The largest input worth trying, per target: a little over each parser's
# own limits where they are cheap to reach, small where size only slows it.
max_len() {
	case "$1" in
	fuzz_z2m) echo 8192 ;;
	fuzz_json) echo 8192 ;;
	fuzz_tasmota) echo 4096 ;;
	fuzz_shelly) echo 4096 ;;
	fuzz_ctl) echo 4096 ;;
	fuzz_gsm) echo 4096 ;;
	*) echo 16384 ;;
	esac
}

if [ $# -gt 0 ]; then
	targets=("$@")
else
	targets=()
	for src in "$ROOT"/tests/fuzz/fuzz_*.c; do
		targets+=("$(basename "$src" .c)")
	done
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/safehouse-fuzz.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# Each target is one single-threaded process: FUZZ_JOBS of them (default:
# one per core) run side by side, each still for SECS of its own on a core
# of its own, so a run finds as much as one after the other, in less time.
FUZZ_JOBS="${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}"
case "$FUZZ_JOBS" in
'' | *[!0-9]* | 0) FUZZ_JOBS=1 ;;
esac

# One target, its output in $WORK/$t.log; its exit status in $WORK/$t.rc.
run_target() {
	local t="$1" rc=0
	(cd "$WORK" && ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="print_stacktrace=1" \
		"$BUILD/$t" -max_total_time="$SECS" -max_len="$(max_len "$t")" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$BUILD/artifacts/$t/" "$WORK/$t" >"$WORK/$t.log" 2>&1) || rc=$?
	echo "$rc" >"$WORK/$t.rc"
}

failed=()
started=()
for t in "${targets[@]}"; do
	seeds="$ROOT/tests/fuzz/corpus/${t#fuzz_}"
	if [ ! -x "$BUILD/$t" ] || [ ! -d "$seeds" ]; then
		echo "fuzz: no target $t (or no corpus $seeds)" >&2
		failed+=("$t: no such target")
		continue
	fi
	mkdir -p "$WORK/$t" "$BUILD/artifacts/$t"
	cp -r "$seeds/." "$WORK/$t/"
	while [ "$(jobs -rp | wc -l)" -ge "$FUZZ_JOBS" ]; do
		wait -n || true
	done
	echo "=== $t: ${SECS}s ==="
	run_target "$t" &
	started+=("$t")
done
wait

# The results in the order the targets were named, whatever order they ended.
for t in "${started[@]}"; do
	if [ "$(cat "$WORK/$t.rc" 2>/dev/null)" = 0 ]; then
		echo "--- $t:"
		grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE" \
			"$WORK/$t.log" || true
	else
		tail -n 60 "$WORK/$t.log"
		echo "fuzz: $t FAILED; replay with: $BUILD/$t $BUILD/artifacts/$t/<crash-file>"
		failed+=("$t")
	fi
done

if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: FAILED: ${failed[*]}"
	exit 1
fi
echo "fuzz: all ${#targets[@]} target(s) ran ${SECS}s each without a finding"
