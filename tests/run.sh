#!/bin/bash
# Install what the tests need, build, and run every test twice: once with a
# normal build and once with AddressSanitizer + UndefinedBehaviorSanitizer.
# Every server a test needs (mosquitto, Modbus simulators) is started by the
# test itself on a free loopback port and stopped afterwards.
#
# The black-box tests run BLACKBOX_JOBS at a time (pytest-xdist; default two
# per core: they mostly wait on the daemon, the broker and the simulators),
# the unit tests one per core, the fuzz targets one per core. Each stage
# prints how long it took.
#
# Usage: tests/run.sh [--quick]   (--quick: skip the sanitizer pass)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1

"$ROOT/deploy/install-deps.sh"
# The browser tests (the station console, the owner's panel): playwright-core
# (pinned) with npm ci.
"$ROOT/tests/browser/setup.sh"

PY=/usr/bin/python3
JOBS=$(nproc 2>/dev/null || echo 2)
BLACKBOX_JOBS="${BLACKBOX_JOBS:-$((2 * JOBS))}"
failed=()

# Wall-clock time of each stage, so that a slow one shows in the CI log.
# stage NAME: ends the current stage (prints its time) and starts NAME;
# stage alone only ends the current one.
stage_name="install-deps"
stage_start=$SECONDS
stage() {
	[ -z "$stage_name" ] || echo "--- $stage_name: $((SECONDS - stage_start)) s"
	stage_start=$SECONDS
	stage_name="${1:-}"
	[ -z "$stage_name" ] || echo "=== $stage_name ==="
}

run_pass() {
	local name="$1" dir="$2"
	shift 2
	echo
	stage "$name build ($dir)"
	cmake -S "$ROOT" -B "$ROOT/$dir" "$@" >/dev/null
	cmake --build "$ROOT/$dir" -j"$JOBS" 2>&1 | grep -E "warning|error" && {
		echo "build $name: compiler warnings or errors (the build must be clean)"
		failed+=("$name: build warnings")
	}
	cmake --build "$ROOT/$dir" -j"$JOBS" >/dev/null

	stage "$name: unit tests (cmocka)"
	if ! (cd "$ROOT/$dir" && ctest --output-on-failure -j"$JOBS"); then
		failed+=("$name: unit tests")
	fi

	stage "$name: config and rule checks"
	if ! "$ROOT/$dir/safehoused" -c "$ROOT/deploy/examples/nha-tro.json" --check; then
		failed+=("$name: demo config check")
	fi
	for f in station.json station-city.json; do
		if ! "$ROOT/$dir/safehouse-station" -c "$ROOT/deploy/examples/$f" --check; then
			failed+=("$name: example station config check ($f)")
		fi
	done

	stage "$name: the model's scenarios (virtual clock, demo house)"
	if ! "$ROOT/$dir/safehoused" -c "$ROOT/deploy/examples/nha-tro.json" \
		--test "$ROOT"/rules/model/tests/*.scenario; then
		failed+=("$name: model scenarios")
	fi

	stage "$name: black-box tests (pytest, real mosquitto and SQLite, $BLACKBOX_JOBS at a time)"
	set +e
	# --durations: the slowest tests, to keep an eye on the suite's length.
	SAFEHOUSED="$ROOT/$dir/safehoused" SAFEHOUSECTL="$ROOT/$dir/safehousectl" \
		$PY -m pytest -q -p no:cacheprovider -n "$BLACKBOX_JOBS" --durations=10 -m "not package" \
		"$ROOT/tests/blackbox"
	local rc=$?
	set -e
	stage
	# 5 means "no tests collected": that is a failure of the suite too.
	[ $rc -eq 0 ] || failed+=("$name: black-box tests (pytest exit $rc)")
}

# The benchmarks' own tools (the figures recorder; no bench is run here).
stage "bench tools (tests/bench/test_*.py)"
if ! $PY -m pytest -q -p no:cacheprovider "$ROOT"/tests/bench/test_*.py; then
	failed+=("bench tools tests")
fi

run_pass normal build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWITH_SANITIZERS=OFF
if [ $QUICK -eq 0 ]; then
	# halt_on_error: a sanitizer report fails the test that caused it.
	export ASAN_OPTIONS="abort_on_error=0:halt_on_error=1:detect_leaks=1:exitcode=86"
	export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87"
	run_pass sanitizer build-asan -DCMAKE_BUILD_TYPE=Debug -DWITH_SANITIZERS=ON
fi

# The Debian packages: build, lintian, contents, --check from the extracted
# binaries, systemd-analyze verify/security of the units; as root also
# apt-get install, upgrade and purge (the machine is left clean).
if [ $QUICK -eq 0 ]; then
	stage "Debian packages (tests/package/build.sh)"
	pkgargs=""
	[ "$(id -u)" = 0 ] && pkgargs="--install"
	if ! "$ROOT/tests/package/build.sh" $pkgargs; then
		failed+=("Debian packages")
	fi
	stage
fi

# The arm64 build (Debian's cross toolchain) with its unit tests, --check and
# the model's scenarios under qemu-user (tests/cross/run.sh; armhf is the
# same script, run separately). A mirror that cannot serve the arm64
# packages is reported as not run, loudly, rather than failing the suite.
if [ $QUICK -eq 0 ] && [ "${CROSS:-1}" != 0 ]; then
	stage "cross build arm64 under qemu-user"
	set +e
	CROSS_INSTALL_FAILURE=skip "$ROOT/tests/cross/run.sh" arm64
	rc=$?
	set -e
	case $rc in
	0) ;;
	3) echo "WARNING: the arm64 cross build was NOT RUN (see above)" ;;
	*) failed+=("cross build arm64 (qemu)") ;;
	esac
	stage
fi

# The fuzz targets (clang libFuzzer, ASan + UBSan), a short run each:
# decoders, rule parser, config loader, scenario parser, control requests.
# FUZZ_SECONDS=0 skips them; tests/fuzz/run.sh 600 is the long run.
FUZZ_SECONDS="${FUZZ_SECONDS:-5}"
if [ "$FUZZ_SECONDS" != 0 ] && [ $QUICK -eq 0 ]; then
	echo
	stage "fuzz targets, ${FUZZ_SECONDS} s each, $JOBS at a time"
	if ! "$ROOT/tests/fuzz/run.sh" "$FUZZ_SECONDS"; then
		failed+=("fuzz targets")
	fi
	stage
fi

echo
if [ ${#failed[@]} -ne 0 ]; then
	echo "FAILED:"
	printf '  %s\n' "${failed[@]}"
	exit 1
fi
echo "all test passes succeeded in $SECONDS s"
