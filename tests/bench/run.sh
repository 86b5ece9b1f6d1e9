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

set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
LEVELS=${BENCH_LEVELS:-0 1000 5000 20000 50000}
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

BIN=$BUILD
build() {
	log "building into $BUILD (log: $TMP/build.log)"
	if cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DWITH_TESTS=OFF \
		>"$TMP/build.log" 2>&1 &&
		cmake --build "$BUILD" -j2 --target bench_load bench_probe bench_floor \
			>>"$TMP/build.log" 2>&1; then
		:
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
	if [ -n "${SAFEHOUSED:-}" ]; then
		DAEMON=$SAFEHOUSED
	elif cmake --build "$BUILD" -j2 --target safehoused >>"$TMP/build.log" 2>&1; then
		DAEMON=$BUILD/safehoused
	else
		log "safehoused does not build; measuring the floor only. Build log tail:"
		tail -n 15 "$TMP/build.log" | sed 's/^/    /' >&2
		DAEMON=
	fi
}
build
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
	if ! "$DAEMON" -c "$CONF" --check >"$TMP/check.log" 2>&1; then
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
declare -A P50 P99 LOST PROBES HWM

# run_phase SYSTEM RATE: start SYSTEM fresh, wait until it answers a probe,
# start the load, probe for SECONDS_PER, stop everything, record one row.
run_phase() {
	local sys=$1 rate=$2 out="$TMP/$1-$2" sp lp i first
	local -a lpids=()

	if [ "$sys" = floor ]; then
		"$BIN/bench_floor" -p "$PORT" >"$out.floor" 2>"$out.log" &
		sp=$!
	else
		rm -f "$TMP"/safehouse.db*
		# A fresh broker session per phase: the daemon's session is
		# persistent (clean session off), and the floor's phases would
		# otherwise leave it a queue of stale telemetry to swallow first.
		/usr/bin/python3 -c 'import json, sys
c = json.load(open(sys.argv[1])); c["mqtt"]["client_id"] = sys.argv[3]
json.dump(c, open(sys.argv[2], "w"))' "$CONF" "$out.json" "safehoused-bench-$rate"
		"$DAEMON" -c "$out.json" -f >"$out.log" 2>&1 &
		sp=$!
	fi
	PIDS+=("$sp")

	# Ready when it answers a probe (no fixed sleep).
	"$BIN/bench_probe" -p "$PORT" -d 0 -W 15 >"$out.sync" 2>>"$out.tools"
	if [ "$(field ready "$out.sync")" != 1 ]; then
		log "$sys did not answer a probe within 15 s at $rate msg/s; log tail:"
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
		# End the phase's persistent session, or the broker goes on
		# queueing the next phases' telemetry for it (a broker-side load
		# that only a benchmark creates).
		/usr/bin/python3 -c 'import sys, paho.mqtt.client as m
c = m.Client(client_id=sys.argv[2], clean_session=True)
c.connect("127.0.0.1", int(sys.argv[1])); c.loop(0.2); c.disconnect()' \
			"$PORT" "safehoused-bench-$rate-local" 2>>"$out.tools" || true
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
echo "Total bench time: $(($(date +%s) - START)) s"
exit 0
