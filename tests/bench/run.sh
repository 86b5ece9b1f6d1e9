#!/usr/bin/env bash
# Alarm-latency benchmark: safehoused against a minimal forwarder (the floor)
# under zigbee2mqtt telemetry load. Prints figures; never fails on a number.
# See tests/bench/README.md for the method and what each figure means.
#
# Environment (all optional):
#   BENCH_LEVELS       load levels in msg/s    (default "0 1000 5000 20000 50000")
#   BENCH_SECONDS      probe time per phase    (default 12)
#   BENCH_INTERVAL_MS  pause after each answer (default 20)
#   BENCH_SENSORS      telemetry sensors       (default 500)
#   BENCH_LOAD_PROCS   load generator processes (default 1)
#   BENCH_LOAD_QOS     QoS of the telemetry load, 0 or 1 (default 0)
#   BENCH_BUILD        build directory         (default build-bench)
#   SAFEHOUSED         daemon binary to use instead of building one
#   BENCH_SYSTEMS      "floor safehoused" or a subset
#   BENCH_HASS=1       keep Home Assistant mirroring on (off by default here)
#   BENCH_KEEP=1       keep the temp dir (configs, logs, raw outputs)
#   BENCH_TARGET       native (default), arm64 or armhf: as --target
#   BENCH_RECORD=0     do not record the figures in tests/bench/figures.json
#
# --target arm64|armhf: safehoused and the floor built for that target
# (Debian's cross toolchain, into build-bench-ARCH) and run under qemu-user;
# mosquitto, the load generator and the probe stay native (they are the
# environment, not the system under test). Default levels "0 1000 5000".
# QEMU_LD_PREFIX is passed on to qemu (not needed with multiarch libraries).

set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${BENCH_TARGET:-native}
while [ $# -gt 0 ]; do
	case $1 in
	--target) TARGET=${2:-}; shift 2 || shift ;;
	--target=*) TARGET=${1#--target=}; shift ;;
	-h | --help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) printf 'bench: unknown argument %s (usage: run.sh [--target native|arm64|armhf])\n' "$1" >&2; exit 2 ;;
	esac
done
case $TARGET in
native) TRIPLET='' QEMU='' ;;
arm64) TRIPLET=aarch64-linux-gnu QEMU=qemu-aarch64 ;;
armhf) TRIPLET=arm-linux-gnueabihf QEMU=qemu-arm ;;
*) printf 'bench: unknown target %s (native, arm64 or armhf)\n' "$TARGET" >&2; exit 2 ;;
esac
if [ "$TARGET" = native ]; then
	BUILD=${BENCH_BUILD:-$ROOT/build-bench}
	LEVELS=${BENCH_LEVELS:-0 1000 5000 20000 50000}
	READY_S=15
else
	# The target's safehoused and floor; the native tools stay in build-bench.
	BUILD=${BENCH_BUILD:-$ROOT/build-bench-$TARGET}
	LEVELS=${BENCH_LEVELS:-0 1000 5000}
	# Under qemu the start (translation of the code it runs first) is slower.
	READY_S=60
fi
SECONDS_PER=${BENCH_SECONDS:-12}
INTERVAL_MS=${BENCH_INTERVAL_MS:-20}
NSENSORS=${BENCH_SENSORS:-500}
LOAD_PROCS=${BENCH_LOAD_PROCS:-1}
LOAD_QOS=${BENCH_LOAD_QOS:-0}
SYSTEMS=${BENCH_SYSTEMS:-floor safehoused}
HZ=$(getconf CLK_TCK)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/safehouse-bench.XXXXXX")
PIDS=()
FAILED=0

# shellcheck source=tests/bench/lib.sh
. "$ROOT/tests/bench/lib.sh"

# ---------------------------------------------------------------- build --

BIN=$BUILD   # the native tools: bench_load, bench_probe (and the floor natively)
TBIN=$BUILD  # the system under test's build: bench_floor (and safehoused)
RUN=()       # the command prefix of the system under test: qemu for a target

# cross_missing: what a --target run lacks, one item a line (empty: nothing).
cross_missing() {
	command -v "$QEMU" >/dev/null 2>&1 || echo "$QEMU (package qemu-user)"
	command -v "$TRIPLET-gcc" >/dev/null 2>&1 || echo "$TRIPLET-gcc (package crossbuild-essential-$TARGET)"
	local pc dev
	# pkg-config name:package, of the libraries the build links (the daemon
	# and its plugins).
	for pc in libmosquitto:libmosquitto-dev libcjson:libcjson-dev sqlite3:libsqlite3-dev \
		libsodium:libsodium-dev gnutls:libgnutls28-dev libmodbus:libmodbus-dev \
		libcurl:libcurl4-openssl-dev libmicrohttpd:libmicrohttpd-dev nettle:nettle-dev; do
		dev=${pc#*:}
		pc=${pc%%:*}
		[ -e "/usr/lib/$TRIPLET/pkgconfig/$pc.pc" ] || echo "$dev:$TARGET (no /usr/lib/$TRIPLET/pkgconfig/$pc.pc)"
	done
}

# choose_daemon WHERE: the daemon to measure: $SAFEHOUSED, else safehoused
# built into $BUILD, else none (the floor only; WHERE says for which target).
choose_daemon() {
	if [ -n "${SAFEHOUSED:-}" ]; then
		DAEMON=$SAFEHOUSED
	elif cmake --build "$BUILD" -j2 --target safehoused >>"$TMP/build.log" 2>&1; then
		DAEMON=$BUILD/safehoused
	else
		log "safehoused does not build$1; measuring the floor only. Build log tail:"
		tail -n 15 "$TMP/build.log" | sed 's/^/    /' >&2
		DAEMON=
	fi
}

# build_target: the floor and safehoused for TARGET into $BUILD with the
# cross toolchain, the native tools into build-bench.
build_target() {
	local missing
	missing=$(cross_missing)
	if [ -n "$missing" ]; then
		log "cannot build for $TARGET; missing:"
		printf '%s\n' "$missing" | sed 's/^/    /' >&2
		log "tests/cross/run.sh $TARGET installs them (as root or with sudo): the $TARGET"
		log "architecture (dpkg --add-architecture $TARGET), crossbuild-essential-$TARGET,"
		log "qemu-user and the -dev:$TARGET packages of its DEV_PACKAGES"
		exit 1
	fi
	local native=$ROOT/build-bench
	log "building the native tools into $native and the $TARGET floor and safehoused into $BUILD (log: $TMP/build.log)"
	if ! { cmake -S "$ROOT" -B "$native" -DCMAKE_BUILD_TYPE=Release -DWITH_TESTS=OFF &&
		cmake --build "$native" -j2 --target bench_load bench_probe &&
		cmake -S "$ROOT" -B "$BUILD" -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/toolchain-$TRIPLET.cmake" \
			-DCMAKE_BUILD_TYPE=Release -DWITH_TESTS=OFF -DWITH_POSTGRESQL=OFF &&
		cmake --build "$BUILD" -j2 --target bench_floor; } >"$TMP/build.log" 2>&1; then
		log "the build failed; log tail:"
		tail -n 20 "$TMP/build.log" | sed 's/^/    /' >&2
		FAILED=1
		exit 1
	fi
	BIN=$native
	TBIN=$BUILD
	RUN=("$QEMU")
	choose_daemon " for $TARGET"
}

build() {
	log "building into $BUILD (log: $TMP/build.log)"
	if cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DWITH_TESTS=OFF \
		>"$TMP/build.log" 2>&1 &&
		cmake --build "$BUILD" -j2 --target bench_load bench_probe bench_floor \
			>>"$TMP/build.log" 2>&1; then
		# The libraries' own share of safehoused's memory (optional).
		cmake --build "$BUILD" -j2 --target bench_libfloor >>"$TMP/build.log" 2>&1 || true
	else
		# The tree may be mid-edit elsewhere; the bench tools stand alone.
		log "cmake build of the bench tools failed; compiling them directly"
		BIN=$TMP/bin
		mkdir -p "$BIN"
		local t
		for t in bench_load bench_probe bench_floor; do
			gcc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra "$ROOT/tests/bench/$t.c" \
				-o "$BIN/$t" -lmosquitto -lcjson -lm >>"$TMP/build.log" 2>&1 || {
				tail -n 20 "$TMP/build.log" >&2
				FAILED=1
				exit 1
			}
		done
	fi
	choose_daemon ""
}
if [ "$TARGET" = native ]; then
	build
	TBIN=$BIN
else
	build_target
fi
if [ -n "$DAEMON" ] && [ ! -x "$DAEMON" ]; then
	log "$DAEMON is not executable; measuring the floor only"
	DAEMON=
fi

# --------------------------------------------------------------- broker --

start_broker

# --------------------------------------------------------------- config --

CONF=$TMP/safehouse.json
/usr/bin/python3 "$ROOT/tests/bench/bench_site.py" "$TMP" "$PORT" "$NSENSORS" >"$CONF"

if [ -n "$DAEMON" ] && [[ " $SYSTEMS " == *" safehoused "* ]]; then
	if ! "${RUN[@]}" "$DAEMON" -c "$CONF" --check >"$TMP/check.log" 2>&1; then
		log "safehoused --check rejects the bench config; measuring the floor only:"
		head -n 20 "$TMP/check.log" | sed 's/^/    /' >&2
		DAEMON=
	fi
fi

# --------------------------------------------------------------- phases --

ROWS=()
RES=()
DAEMON_HWM=0
DAEMON_TICKS=0
DAEMON_RUNS=0
FLOOR_HWM=0
declare -A P50 P99 LOST PROBES HWM CPUW WIN ACH DROPS

# daemon_config OUT CLIENT_ID: the bench config with a fresh database and its
# own MQTT client id. A fresh broker session per run: the daemon's session
# is persistent (clean session off), and the floor's phases would otherwise
# leave it a queue of stale telemetry to swallow first.
daemon_config() {
	rm -f "$TMP"/safehouse.db*
	/usr/bin/python3 -c 'import json, sys
c = json.load(open(sys.argv[1])); c["mqtt"]["client_id"] = sys.argv[3]
json.dump(c, open(sys.argv[2], "w"))' "$CONF" "$1" "$2"
}

# end_session CLIENT_ID: end the persistent session of the daemon that ran
# with CLIENT_ID, or the broker goes on queueing the next phases' telemetry
# for it (a broker-side load that only a benchmark creates).
end_session() {
	/usr/bin/python3 -c 'import sys, paho.mqtt.client as m
c = m.Client(client_id=sys.argv[2], clean_session=True)
c.connect("127.0.0.1", int(sys.argv[1])); c.loop(0.2); c.disconnect()' \
		"$PORT" "$1-local" || true
}

# run_phase SYSTEM RATE: start SYSTEM fresh, wait until it answers a probe,
# start the load, probe for SECONDS_PER, stop everything, record one row.
run_phase() {
	local sys=$1 rate=$2 out="$TMP/$1-$2" sp lp i first
	local -a lpids=()

	if [ "$sys" = floor ]; then
		"${RUN[@]}" "$TBIN/bench_floor" -p "$PORT" >"$out.floor" 2>"$out.log" &
		sp=$!
	else
		daemon_config "$out.json" "safehoused-bench-$rate"
		"${RUN[@]}" "$DAEMON" -c "$out.json" -f >"$out.log" 2>&1 &
		sp=$!
	fi
	PIDS+=("$sp")

	# Ready when it answers a probe (no fixed sleep).
	"$BIN/bench_probe" -p "$PORT" -d 0 -W "$READY_S" >"$out.sync" 2>>"$out.tools"
	if [ "$(field ready "$out.sync")" != 1 ]; then
		log "$sys did not answer a probe within $READY_S s at $rate msg/s; log tail:"
		tail -n 20 "$out.log" | sed 's/^/    /' >&2
		FAILED=1
		stop_pid "$sp"
		ROWS+=("$(printf '%8s %9s %-10s %7s %5s %8s %8s %8s' "$rate" - "$sys" 0 - - - -)")
		return
	fi
	first=$((1 - $(field last "$out.sync")))

	local drops0 sys0 brk0 load0=0 load1=0 t0 t1
	drops0=$(grep -c 'Outgoing messages are being dropped' "$TMP/mosquitto.log")
	if [ "$rate" != 0 ]; then
		for ((i = 0; i < LOAD_PROCS; i++)); do
			rm -f "$out.ready$i"
			"$BIN/bench_load" -q -Q "$LOAD_QOS" -p "$PORT" -n "$NSENSORS" -s "$i" -S "$LOAD_PROCS" \
				-r "$(awk -v r="$rate" -v k="$LOAD_PROCS" 'BEGIN {print r / k}')" \
				-d 0 -R "$out.ready$i" >"$out.load$i" 2>>"$out.tools" &
			lp=$!
			PIDS+=("$lp")
			lpids+=("$lp")
		done
		for ((i = 0; i < LOAD_PROCS; i++)); do
			wait_for 5 test -e "$out.ready$i" || log "load generator $i did not connect"
		done
	fi
	sys0=$(cpu_ticks "$sp")
	brk0=$(cpu_ticks "$BROKER")
	for lp in "${lpids[@]}"; do
		load0=$((load0 + $(cpu_ticks "$lp")))
	done
	t0=$(date +%s.%N)
	"$BIN/bench_probe" -p "$PORT" -d "$SECONDS_PER" -i "$INTERVAL_MS" -W 5 -s "$first" \
		>"$out.probe" 2>>"$out.tools"
	t1=$(date +%s.%N)
	local win sys1 brk1 hwm total alive=1
	win=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')
	sys1=$(cpu_ticks "$sp")
	brk1=$(cpu_ticks "$BROKER")
	for lp in "${lpids[@]}"; do
		load1=$((load1 + $(cpu_ticks "$lp")))
	done
	hwm=$(vm_hwm "$sp")
	kill -0 "$sp" 2>/dev/null || alive=0
	local achieved=0 r
	for lp in "${lpids[@]}"; do
		stop_pid "$lp"
	done
	for ((i = 0; i < ${#lpids[@]}; i++)); do
		r=$(field rate "$out.load$i")
		achieved=$((achieved + ${r:-0}))
	done
	total=$sys1
	stop_pid "$sp"
	if [ "$sys" = safehoused ]; then
		end_session "safehoused-bench-$rate" 2>>"$out.tools"
	fi
	local drops recv=- rows=-
	drops=$(($(grep -c 'Outgoing messages are being dropped' "$TMP/mosquitto.log") - drops0))
	if [ "$sys" = floor ]; then
		recv=$(field messages "$out.floor")
	else
		# What the store took: rows in the events table (a change per
		# door report, the probe's changes, the siren commands).
		rows=$(/usr/bin/python3 -c 'import sqlite3, sys
try:
    print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM events").fetchone()[0])
except Exception:
    print("?")' "$TMP/safehouse.db" 2>/dev/null)
	fi

	if [ "$alive" = 0 ]; then
		log "$sys died during the $rate msg/s phase; log tail:"
		tail -n 20 "$out.log" | sed 's/^/    /' >&2
		FAILED=1
	fi
	local f="$out.probe" probes lost p50 p99 max
	probes=$(field probes "$f")
	lost=$(field lost "$f")
	p50=$(field p50_us "$f")
	p99=$(field p99_us "$f")
	max=$(field max_us "$f")
	ROWS+=("$(printf '%8s %9s %-10s %7s %5s %8s %8s %8s' "$rate" "$achieved" "$sys" \
		"${probes:-0}" "${lost:--}" "${p50:--}" "${p99:--}" "${max:--}")")
	RES+=("$(printf '%8s %-10s %6s %8s %6s %9s %9s %6s %9s %9s' "$rate" "$sys" \
		"$(pct $((sys1 - sys0)) "$win")" "$(pct $((brk1 - brk0)) "$win")" \
		"$(pct $((load1 - load0)) "$win")" \
		"$(ticks_to_s "$total")" "${hwm:-0}" "$drops" "${recv:--}" "${rows:--}")")
	P50[$sys,$rate]=${p50:-}
	P99[$sys,$rate]=${p99:-}
	LOST[$sys,$rate]=${lost:-}
	PROBES[$sys,$rate]=${probes:-}
	HWM[$sys,$rate]=${hwm:-0}
	CPUW[$sys,$rate]=$((sys1 - sys0))
	WIN[$sys,$rate]=$win
	ACH[$sys,$rate]=$achieved
	DROPS[$sys,$rate]=$drops
	if [ "$sys" = floor ] && [ "${hwm:-0}" -gt "$FLOOR_HWM" ]; then
		FLOOR_HWM=$hwm
	fi
	if [ "$sys" = safehoused ]; then
		DAEMON_RUNS=$((DAEMON_RUNS + 1))
		DAEMON_TICKS=$((DAEMON_TICKS + total))
		[ "${hwm:-0}" -gt "$DAEMON_HWM" ] && DAEMON_HWM=$hwm
	fi
}

START=$(date +%s)
for rate in $LEVELS; do
	for sys in $SYSTEMS; do
		if [ "$sys" = safehoused ] && [ -z "$DAEMON" ]; then
			continue
		fi
		log "$sys at $rate msg/s"
		run_phase "$sys" "$rate"
	done
done

# -------------------------------------------------- CPU side by side --

# side_phase RATE: the floor and safehoused both subscribed at once, to the
# same load on the same broker, for SECONDS_PER; each one's CPU (all
# threads) per message over the same window. The phases above run one system
# at a time, so a neighbour's burst on the shared machine lands in one
# system's phase and not the other's; here both see the same messages at
# the same moments, and the ratio is steadier (BENCH_SIDE=0: skip).
declare -A SIDE
side_phase() {
	local rate=$1 out="$TMP/side-$1" dp fp lp t0 t1 d0 d1 f0 f1 sent
	rm -f "$out.fready"
	daemon_config "$out.json" "safehoused-bench-side-$rate"
	"${RUN[@]}" "$DAEMON" -c "$out.json" -f >"$out.log" 2>&1 &
	dp=$!
	PIDS+=("$dp")
	# Ready when it answers a probe: it is the only one running yet.
	"$BIN/bench_probe" -p "$PORT" -d 0 -W "$READY_S" >"$out.sync" 2>>"$out.tools"
	if [ "$(field ready "$out.sync")" != 1 ]; then
		log "side by side at $rate msg/s: safehoused did not answer a probe; skipped"
		stop_pid "$dp"
		return
	fi
	"${RUN[@]}" "$TBIN/bench_floor" -p "$PORT" -R "$out.fready" >"$out.floor" 2>>"$out.tools" &
	fp=$!
	PIDS+=("$fp")
	wait_for 10 test -e "$out.fready" || log "side by side: the floor did not subscribe"
	"$BIN/bench_load" -q -Q "$LOAD_QOS" -p "$PORT" -n "$NSENSORS" -s 0 -S 1 -r "$rate" \
		-d 0 -R "$out.ready" >"$out.load" 2>>"$out.tools" &
	lp=$!
	PIDS+=("$lp")
	wait_for 5 test -e "$out.ready" || log "side by side: the load generator did not connect"
	# Past the start of the load (the subscribers' first read bursts).
	sleep 1
	d0=$(cpu_ticks "$dp")
	f0=$(cpu_ticks "$fp")
	t0=$(date +%s.%N)
	sleep "$SECONDS_PER"
	d1=$(cpu_ticks "$dp")
	f1=$(cpu_ticks "$fp")
	t1=$(date +%s.%N)
	stop_pid "$lp"
	stop_pid "$fp"
	stop_pid "$dp"
	end_session "safehoused-bench-side-$rate" 2>>"$out.tools"
	# Messages in the window: the rate the generator held, times the window.
	sent=$(awk -v r="$(field rate "$out.load")" -v a="$t0" -v b="$t1" \
		'BEGIN {printf "%d", r * (b - a)}')
	SIDE[$rate]=$(awk -v d=$((d1 - d0)) -v f=$((f1 - f0)) -v n="$sent" -v hz="$HZ" \
		'BEGIN { if (n <= 0 || f <= 0) { print "- - -"; exit }
		         printf "%.2f %.2f %.2f", f / hz * 1e6 / n, d / hz * 1e6 / n, d / f }')
}

if [ "${BENCH_SIDE:-1}" != 0 ] && [ -n "$DAEMON" ] && [[ " $SYSTEMS " == *" safehoused "* ]] &&
	[[ " $SYSTEMS " == *" floor "* ]]; then
	for rate in $LEVELS; do
		[ "$rate" = 0 ] && continue
		log "floor and safehoused side by side at $rate msg/s"
		side_phase "$rate"
	done
fi

# --------------------------------------------------------------- report --

echo
echo "Alarm latency: probe publish -> siren command at the broker ($NSENSORS sensors," \
	"${SECONDS_PER}s per phase, ${INTERVAL_MS}ms between probes, 2s timeout = lost)"
printf '%8s %9s %-10s %7s %5s %8s %8s %8s\n' "target/s" "load/s" system probes lost \
	"p50 us" "p99 us" "max us"
printf '%s\n' "${ROWS[@]}"
echo
echo "Resources per phase (a fresh process per phase; cpu% of one core during the probe window)"
printf '%8s %-10s %6s %8s %6s %9s %9s %6s %9s %9s\n' "target/s" system "cpu%" "broker%" "load%" \
	"cpu s" "rss kB" drops recv rows
printf '%s\n' "${RES[@]}"
echo
if [ "$DAEMON_RUNS" -gt 0 ]; then
	echo "safehoused: peak RSS (VmHWM, max over $DAEMON_RUNS runs) $DAEMON_HWM kB;" \
		"CPU (utime+stime, all runs) $(ticks_to_s "$DAEMON_TICKS") s"
	if [ -n "${P50[safehoused,20000]:-}" ] && [ -n "${P50[floor,20000]:-}" ]; then
		echo "At 20000 msg/s (targets, for information):" \
			"lost ${LOST[safehoused,20000]}/${PROBES[safehoused,20000]} (target 0);" \
			"p50 $(awk -v a="${P50[safehoused,20000]}" -v b="${P50[floor,20000]}" \
				'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')x floor (target <= 2x);" \
			"p99 ${P99[safehoused,20000]} us (target < 2000);" \
			"RSS ${HWM[safehoused,20000]} kB (target < 10240)"
	fi
else
	echo "safehoused: not measured (not built, or it rejected the config; see above)"
fi

# ------------------------------------------------- ratios to the floor --

# cpu_us_msg SYS RATE: CPU microseconds per message in the probe window
# (the load the generator achieved, plus each probe and its answer).
cpu_us_msg() {
	awk -v t="${CPUW[$1,$2]:-0}" -v hz="$HZ" -v w="${WIN[$1,$2]:-0}" -v a="${ACH[$1,$2]:-0}" \
		-v p="${PROBES[$1,$2]:-0}" 'BEGIN {n = a * w + 2 * p; if (n > 0) printf "%.2f", 1e6 * t / hz / n}'
}
# ratio A B: A / B with two decimals, empty when either is missing or B is 0.
ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN {if (a != "" && b != "" && b + 0 > 0) printf "%.2f", a / b}'; }
# saturated SYS RATE: why the phase looks saturated (empty: it does not):
# the system near a full core in the window, its p50 over 3x its own at the
# lowest load level of the run (it fell behind, or something else on the
# machine took its cores; p50, not p99: p99 is the 5th-worst sample, and a
# single spike of the shared machine moves it), the broker dropping for
# it, probes lost, or the generator short of its target by over 10 %.
declare -A REF50
for rate in $LEVELS; do
	for sys in $SYSTEMS; do
		if [ "$rate" -gt 0 ] && [ -z "${REF50[$sys]:-}" ] && [ -n "${P50[$sys,$rate]:-}" ]; then
			REF50[$sys]=${P50[$sys,$rate]}
		fi
	done
done
saturated() {
	local why="" c
	c=$(pct "${CPUW[$1,$2]:-0}" "${WIN[$1,$2]:-0}")
	[ "$c" -ge 90 ] && why="$why cpu${c}%"
	if [ -n "${REF50[$1]:-}" ] && [ -n "${P50[$1,$2]:-}" ] && [ "$2" -gt 0 ] &&
		[ "${P50[$1,$2]}" -gt $((3 * REF50[$1])) ]; then
		why="$why latency"
	fi
	[ "${DROPS[$1,$2]:-0}" -gt 0 ] && why="$why drops"
	[ -n "${LOST[$1,$2]:-}" ] && [ "${LOST[$1,$2]}" -gt 0 ] && why="$why lost"
	[ "$2" -gt 0 ] && [ "${ACH[$1,$2]:-0}" -lt $(($2 * 9 / 10)) ] && why="$why load"
	echo "${why# }"
}

RATIOS=()
REC=()
for rate in $LEVELS; do
	if [ -z "${PROBES[floor,$rate]+x}" ] || [ -z "${PROBES[safehoused,$rate]+x}" ]; then
		continue
	fi
	fc=$(cpu_us_msg floor "$rate")
	dc=$(cpu_us_msg safehoused "$rate")
	r50=$(ratio "${P50[safehoused,$rate]}" "${P50[floor,$rate]}")
	r99=$(ratio "${P99[safehoused,$rate]}" "${P99[floor,$rate]}")
	[ "$rate" -gt 0 ] && rcpu=$(ratio "$dc" "$fc") || rcpu=
	fs=$(saturated floor "$rate")
	ds=$(saturated safehoused "$rate")
	RATIOS+=("$(printf '%8s %6s %6s %6s %9s %9s  %-16s %s' "$rate" "${r50:--}" "${r99:--}" \
		"${rcpu:--}" "${fc:--}" "${dc:--}" "${fs:--}" "${ds:--}")")
	REC+=("$rate.p50_ratio=$r50" "$rate.p99_ratio=$r99" "$rate.cpu_ratio=$rcpu"
		"$rate.p50_us=${P50[safehoused,$rate]}" "$rate.p99_us=${P99[safehoused,$rate]}"
		"$rate.floor_p50_us=${P50[floor,$rate]}" "$rate.floor_p99_us=${P99[floor,$rate]}"
		"$rate.lost=${LOST[safehoused,$rate]}" "$rate.probes=${PROBES[safehoused,$rate]}"
		"$rate.floor_lost=${LOST[floor,$rate]}" "$rate.cpu_us_msg=$dc" "$rate.floor_cpu_us_msg=$fc"
		"$rate.saturated=$([ -n "$ds" ] && echo 1 || echo 0)"
		"$rate.floor_saturated=$([ -n "$fs" ] && echo 1 || echo 0)")
done
if [ ${#RATIOS[@]} -gt 0 ]; then
	echo
	echo "safehoused / floor per level (latency ratios of p50 and p99; CPU: microseconds of" \
		"CPU per message in the probe window, all threads; saturated: cpu >= 90 % of a core," \
		"p50 over 3x its own at the lowest load level," \
		"broker drops, lost probes, or the load short of its target)"
	printf '%8s %6s %6s %6s %9s %9s  %-16s %s\n' "target/s" p50 p99 cpu "floor us" "shd us" \
		"floor saturated" "safehoused saturated"
	printf '%s\n' "${RATIOS[@]}"
fi
if [ ${#SIDE[@]} -gt 0 ]; then
	echo
	echo "CPU per message side by side (both subscribed to the same load at once; microseconds"
	echo "of CPU per message over ${SECONDS_PER} s, all threads)"
	printf '%8s %9s %9s %6s\n' "target/s" "floor us" "shd us" ratio
	for rate in $LEVELS; do
		[ -n "${SIDE[$rate]:-}" ] || continue
		read -r sf sd sr <<<"${SIDE[$rate]}"
		printf '%8s %9s %9s %6s\n' "$rate" "$sf" "$sd" "$sr"
		[ "$sr" != - ] && REC+=("$rate.cpu_side_ratio=$sr")
	done
fi
[ "$DAEMON_RUNS" -gt 0 ] && REC+=("rss_kb=$DAEMON_HWM")
# The floor of safehoused's memory: its own libraries (not the plugins it
# loads only when configured) doing what the daemon makes them do at start,
# and nothing else (tests/bench/bench_libfloor.c). Native builds only.
if [ "$TARGET" = native ] && [ -x "$BIN/bench_libfloor" ] &&
	lf=$("$BIN/bench_libfloor" "$TMP" 2>/dev/null); then
	lf_kb=$(echo "$lf" | awk '{print $3}')
	echo "safehoused's libraries alone (bench_libfloor): $lf"
	[ -n "$lf_kb" ] && REC+=("libfloor_rss_kb=$lf_kb")
fi
[ "$FLOOR_HWM" -gt 0 ] && REC+=("floor_rss_kb=$FLOOR_HWM")
if [ "$TARGET" != native ]; then
	echo
	echo "Under qemu-user ($QEMU): instructions are translated, so absolute times and CPU are"
	echo "not a board's; the ratios to the floor (built for the same target, run the same way)"
	echo "are the figures to read. RSS includes qemu's own memory. See tests/bench/README.md."
fi
echo "Total bench time: $(($(date +%s) - START)) s"
if [ ${#REC[@]} -gt 0 ]; then
	note="levels ${LEVELS// /, }, ${SECONDS_PER} s per phase, $NSENSORS sensors"
	if [ "$TARGET" = native ]; then
		bench=run
	else
		bench=run-$TARGET
		note="$TARGET build under $("$QEMU" --version | head -n 1 | sed 's/ *(.*//'); $note"
	fi
	if [ -n "${SAFEHOUSED:-}" ]; then buildopt=(--build-of "$SAFEHOUSED"); else buildopt=(--build Release); fi
	record_figures "$bench" "${buildopt[@]}" --note "$note" "${REC[@]}"
fi
exit 0
