# Shell helpers shared by the benchmarks (run.sh, modbus.sh, soak.sh):
# logging, stopping what we started, cleanup on exit, polling, CPU and memory
# of a process, a private broker. Source it after setting ROOT, TMP (temp
# dir), PIDS (array of pids to stop on exit), FAILED (1 keeps TMP) and HZ
# (getconf CLK_TCK).
# shellcheck shell=bash

log() { printf 'bench: %s\n' "$*" >&2; }

# record_figures BENCH [figures.py options] KEY=VALUE...: store the figures
# in tests/bench/figures.json and update the table at the top of
# tests/bench/README.md (tests/bench/figures.py; BENCH_RECORD=0: not).
# Pairs without a value (a phase that gave none) are left out; never fails.
record_figures() {
	local a
	local -a args=()
	for a in "$@"; do
		case $a in
		*=) ;;
		*=- | *=\?) ;;
		*) args+=("$a") ;;
		esac
	done
	/usr/bin/python3 "$ROOT/tests/bench/figures.py" record "${args[@]}" || true
}

# Stop one process we started: TERM, wait for it to go, then KILL.
stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid"
	done
	if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$FAILED" = 1 ]; then
		log "raw outputs and logs kept in $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Wait until a command succeeds, polling every 50 ms, at most $1 seconds.
wait_for() {
	local limit=$1 i
	shift
	for ((i = 0; i < limit * 20; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

# utime+stime of a process, in clock ticks (fields 14 and 15 of stat; the
# command name in field 2 may contain spaces, so count after the last ')').
cpu_ticks() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	echo $((${12} + ${13}))
}

# status_kb PID NAME: a kB figure of /proc/PID/status (VmRSS, VmHWM, RssAnon,
# RssFile, RssShmem); 0 when the process is gone.
status_kb() {
	local v
	v=$(awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null)
	echo "${v:-0}"
}
vm_hwm() { status_kb "$1" VmHWM; }

# field NAME FILE: the value of NAME=VALUE on the last line that has it
field() { grep -o "$1=[^ ]*" "$2" 2>/dev/null | tail -n 1 | cut -d= -f2; }

ticks_to_s() { awk -v t="$1" -v hz="$HZ" 'BEGIN {printf "%.2f", t / hz}'; }
pct() { awk -v t="$1" -v hz="$HZ" -v s="$2" 'BEGIN {printf "%.0f", (s > 0 ? 100 * t / hz / s : 0)}'; }

# A private mosquitto on a free loopback port, configured from
# deploy/mosquitto/local.conf plus a listener line; sets PORT and BROKER
# (its pid, also in PIDS). Needs ROOT. Exits 1 when it does not start.
free_port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# shellcheck disable=SC2317 # called through wait_for
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
# build_tools TARGET...: a Release build of the targets into $BUILD; exits
# (FAILED=1, the log's tail shown) when it fails.
build_tools() {
	log "building into $BUILD (log: $TMP/build.log)"
	if ! { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DWITH_TESTS=OFF &&
		cmake --build "$BUILD" -j2 --target "$@"; } >"$TMP/build.log" 2>&1; then
		log "the build failed; log tail:"
		tail -n 20 "$TMP/build.log" | sed 's/^/    /' >&2
		FAILED=1
		exit 1
	fi
}

start_broker() {
	PORT=$(free_port)
	{
		cat "$ROOT/deploy/mosquitto/local.conf"
		# local.conf keeps the gateway's session on disk (persistence).
		echo "persistence_location $TMP/"
		# As root, mosquitto drops to user mosquitto, which cannot write here.
		if [ "$(id -u)" -eq 0 ]; then echo "user root"; fi
		echo "listener $PORT 127.0.0.1"
	} >"$TMP/mosquitto.conf"
	mosquitto -c "$TMP/mosquitto.conf" >"$TMP/mosquitto.log" 2>&1 &
	BROKER=$!
	PIDS+=("$BROKER")
	if ! wait_for 5 port_open; then
		log "mosquitto did not start:"
		tail -n 10 "$TMP/mosquitto.log" >&2
		FAILED=1
		exit 1
	fi
}
