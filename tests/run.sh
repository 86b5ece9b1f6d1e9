#!/bin/bash
# Install what the tests need, build, and run every test twice: once with a
# normal build and once with AddressSanitizer + UndefinedBehaviorSanitizer.
# Every server a test needs (mosquitto, Modbus simulators) is started by the
# test itself on a free loopback port and stopped afterwards.
#
# Usage: tests/run.sh [--quick]   (--quick: skip the sanitizer pass)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1

"$ROOT/deploy/install-deps.sh"

PY=/usr/bin/python3
JOBS=$(nproc 2>/dev/null || echo 2)
failed=()

run_pass() {
	local name="$1" dir="$2"
	shift 2
	echo
	echo "=== $name build ($dir) ==="
	cmake -S "$ROOT" -B "$ROOT/$dir" "$@" >/dev/null
	cmake --build "$ROOT/$dir" -j"$JOBS" 2>&1 | grep -E "warning|error" && {
		echo "build $name: compiler warnings or errors (the build must be clean)"
		failed+=("$name: build warnings")
	}
	cmake --build "$ROOT/$dir" -j"$JOBS" >/dev/null

	echo "=== $name: unit tests (cmocka) ==="
	if ! (cd "$ROOT/$dir" && ctest --output-on-failure); then
		failed+=("$name: unit tests")
	fi

	echo "=== $name: config and rule checks ==="
	if ! "$ROOT/$dir/safehoused" -c "$ROOT/deploy/examples/nha-tro.json" --check; then
		failed+=("$name: demo config check")
	fi

	echo "=== $name: the model's scenarios (virtual clock, demo house) ==="
	if ! "$ROOT/$dir/safehoused" -c "$ROOT/deploy/examples/nha-tro.json" \
		--test "$ROOT"/rules/model/tests/*.scenario; then
		failed+=("$name: model scenarios")
	fi

	echo "=== $name: black-box tests (pytest, real mosquitto and SQLite) ==="
	set +e
	SAFEHOUSED="$ROOT/$dir/safehoused" SAFEHOUSECTL="$ROOT/$dir/safehousectl" \
		$PY -m pytest -q -p no:cacheprovider "$ROOT/tests/blackbox"
	local rc=$?
	set -e
	# 5 means "no tests collected": that is a failure of the suite too.
	[ $rc -eq 0 ] || failed+=("$name: black-box tests (pytest exit $rc)")
}

run_pass normal build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWITH_SANITIZERS=OFF
if [ $QUICK -eq 0 ]; then
	# halt_on_error: a sanitizer report fails the test that caused it.
	export ASAN_OPTIONS="abort_on_error=0:halt_on_error=1:detect_leaks=1:exitcode=86"
	export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87"
	run_pass sanitizer build-asan -DCMAKE_BUILD_TYPE=Debug -DWITH_SANITIZERS=ON
fi

# The fuzz targets (clang libFuzzer, ASan + UBSan), a short run each:
# decoders, rule parser, config loader, scenario parser, control requests.
# FUZZ_SECONDS=0 skips them; tests/fuzz/run.sh 600 is the one-hour run.
FUZZ_SECONDS="${FUZZ_SECONDS:-10}"
if [ "$FUZZ_SECONDS" != 0 ] && [ $QUICK -eq 0 ]; then
	echo
	echo "=== fuzz targets, ${FUZZ_SECONDS} s each ==="
	if ! "$ROOT/tests/fuzz/run.sh" "$FUZZ_SECONDS"; then
		failed+=("fuzz targets")
	fi
fi

echo
if [ ${#failed[@]} -ne 0 ]; then
	echo "FAILED:"
	printf '  %s\n' "${failed[@]}"
	exit 1
fi
echo "all test passes succeeded"
