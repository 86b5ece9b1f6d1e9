#!/usr/bin/env bash
# Modbus benchmark: points polled per second over Modbus TCP, discrete input
# -> siren coil latency, and the MQTT alarm latency under telemetry load with
# the Modbus devices healthy and with one of them timing out. Prints figures;
# never fails on a number. The Modbus peer is the black-box simulator
# (pymodbus), through tests/bench/modbus_bench_sim.py. See
# tests/bench/README.md ("Modbus benchmark") for the method.
#
# Environment (all optional):
#   BENCH_MB_UNITS     unit counts for the polling figure   (default "8 32 128")
#   BENCH_MB_POLL_MS   poll_ms for the polling figure       (default 20, the least allowed)
#   BENCH_MB_SECONDS   polling window per row               (default 8)
#   BENCH_MB_LAT_POLLS poll_ms values for the latency rows  (default "100 20")
#   BENCH_MB_ROUNDS    latency rounds per row               (default 20)
#   BENCH_MB_DEAD_ROUNDS rounds with a dead unit on the bus (default 5; 0: skip)
#   BENCH_MB_RATE      MQTT background load, msg/s          (default 5000)
#   BENCH_SECONDS      MQTT probe window per phase          (default 12)
#   BENCH_SENSORS      MQTT telemetry sensors               (default 500)
#   BENCH_BUILD        build directory                      (default build-bench)
#   SAFEHOUSED         daemon binary to use instead of building one
#   BENCH_KEEP=1       keep the temp dir (configs, logs, raw outputs)

set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
MB_UNITS=${BENCH_MB_UNITS:-8 32 128}
MB_POLL=${BENCH_MB_POLL_MS:-20}
MB_SECONDS=${BENCH_MB_SECONDS:-8}
LAT_POLLS=${BENCH_MB_LAT_POLLS:-100 20}
ROUNDS=${BENCH_MB_ROUNDS:-20}
DEAD_POLL=100
DEAD_ROUNDS=${BENCH_MB_DEAD_ROUNDS:-5}
RATE=${BENCH_MB_RATE:-5000}
SECONDS_PER=${BENCH_SECONDS:-12}
NSENSORS=${BENCH_SENSORS:-500}
PY=/usr/bin/python3
HZ=$(getconf CLK_TCK)
DI_PER_UNIT=64
IR_PER_UNIT=32
MQTT_UNITS=8          # Modbus devices polled during the MQTT phases
MQTT_DEAD_UNIT=8      # the one dropped in the "one timing out" phase

TMP=$(mktemp -d "${TMPDIR:-/tmp}/safehouse-mbbench.XXXXXX")
PIDS=()
FAILED=0
START=$(date +%s)

# shellcheck source=tests/bench/lib.sh
. "$ROOT/tests/bench/lib.sh"

# ---------------------------------------------------------------- build --

build_tools bench_load bench_probe safehousectl safehoused
BIN=$BUILD
DAEMON=${SAFEHOUSED:-$BUILD/safehoused}
CTL=$BUILD/safehousectl
if ! $PY -c 'import pymodbus' 2>/dev/null; then
	log "pymodbus is not installed for $PY: no Modbus peer, nothing to measure"
	exit 1
fi

# --------------------------------------------------------------- broker --

start_broker

# ------------------------------------------------------------ simulator --

# One simulator for the whole run, serving every unit any phase uses; it is
# driven over a coprocess (one JSON command, one JSON reply) and leaves when
# its stdin closes.
MAXU=$MQTT_UNITS
for n in $MB_UNITS; do [ "$n" -gt "$MAXU" ] && MAXU=$n; done
UNITS=$(seq -s, 1 "$MAXU")
coproc SIM { exec $PY "$ROOT/tests/bench/modbus_bench_sim.py" --units "$UNITS" --size 100 \
	--tcp 0 2>"$TMP/sim.log"; }
SIM_OUT=${SIM[0]}
SIM_IN=${SIM[1]}
PIDS+=("$SIM_PID")
SIM_PIDNUM=$SIM_PID
sim() { # sim JSON: one command; the reply in $REPLY
	REPLY=
	printf '%s\n' "$1" >&"$SIM_IN" || return 1
	IFS= read -r -t 30 REPLY <&"$SIM_OUT"
}
IFS= read -r -t 15 READY <&"$SIM_OUT"
MBPORT=$(printf '%s' "${READY:-}" | $PY -c 'import json, sys; print(json.load(sys.stdin)["port"])' 2>/dev/null)
if [ -z "$MBPORT" ]; then
	log "the Modbus simulator did not start:"
	tail -n 20 "$TMP/sim.log" >&2
	FAILED=1
	exit 1
fi
jget() { printf '%s' "$REPLY" | $PY -c "import json, sys; print(json.load(sys.stdin).get('$1', ''))"; }

# --------------------------------------------------------------- config --

# mkconf MODE OUT ARGS...: poll UNITS POLL_MS | latency POLL_MS | mqtt
cat >"$TMP/mkconf.py" <<'EOF'
import json, os, sys

sys.path.insert(0, os.environ["BENCH_DIR"])
from bench_site import ZONES, telemetry_sensors  # noqa: E402

mode, tmp, port, mbport = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
args = [int(a) for a in sys.argv[5:]]
DI, IR = 64, 32
zones = list(ZONES)
sensors, outputs, rules, buses = [], [], "", []


def polled(units, first=1):
    # DI points 0..63 (one read discrete inputs request) and IR 0..31 (one
    # read input registers request) on each unit.
    for u in range(first, units + 1):
        for a in range(DI):
            sensors.append({"id": "mb-u%02d-di%02d" % (u, a), "kind": "smoke",
                            "zone": zones[a % 2]["id"],
                            "modbus": {"bus": "tcp0", "unit": u, "discrete_input": a}})
        for a in range(IR):
            sensors.append({"id": "mb-u%02d-ir%02d" % (u, a), "kind": "heat",
                            "zone": zones[a % 2]["id"],
                            "modbus": {"bus": "tcp0", "unit": u, "input_register": a}})


if mode == "poll":
    units, poll = args
    buses.append({"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": mbport,
                  "poll_ms": poll, "timeout_ms": 1000, "retries": 1})
    polled(units)
elif mode == "latency":
    poll, dead = args
    buses.append({"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": mbport,
                  "poll_ms": poll, "timeout_ms": 1000, "retries": 1})
    if dead:
        # A third device on the same bus, which the simulator will not serve.
        polled(dead, first=dead)
    sensors.append({"id": "smoke-wired", "kind": "smoke", "zone": "floor-1",
                    "modbus": {"bus": "tcp0", "unit": 1, "discrete_input": 0}})
    outputs.append({"id": "siren-yard", "kind": "siren", "zone": "floor-1",
                    "modbus": {"bus": "tcp0", "unit": 2, "coil": 0}})
    rules = ('rule "wired smoke on"\nwhen sensor "smoke-wired" becomes detected\n'
             'then siren on fire\nend\n'
             'rule "wired smoke off"\nwhen sensor "smoke-wired" becomes clear\n'
             'then siren off\nend\n')
else:  # mqtt: run.sh's site plus Modbus devices being polled
    units, n = args
    buses.append({"id": "tcp0", "type": "tcp", "host": "127.0.0.1", "port": mbport,
                  "poll_ms": 100, "timeout_ms": 1000, "retries": 1})
    polled(units)
    sensors += telemetry_sensors(n)
    outputs.append({"id": "siren-bench", "kind": "siren",
                    "mqtt": {"topic": "bench/siren/set", "format": "zigbee2mqtt"}})
    rules = ('rule "bench probe on"\nwhen sensor "probe" becomes detected\n'
             'then siren on fire\nend\n'
             'rule "bench probe off"\nwhen sensor "probe" becomes clear\n'
             'then siren off\nend\n')
with open(tmp + "/bench.rules", "w") as f:
    f.write(rules or "# no rules\n")
json.dump({
    "site": {"id": "bench", "name": "bench"},
    "database": tmp + "/safehouse.db",
    "control_socket": tmp + "/control.sock",
    "mqtt": {"host": "127.0.0.1", "port": port},
    "zones": zones,
    "buses": buses,
    "sensors": sensors,
    "outputs": outputs,
    "contacts": [{"id": "militia", "via": "upstream"}],
    "rules": ["bench.rules"],
    "homeassistant": {"enabled": False},
}, sys.stdout, indent=1)
EOF
mkconf() { BENCH_DIR="$ROOT/tests/bench" $PY "$TMP/mkconf.py" "$1" "$TMP" "$PORT" "$MBPORT" "${@:2}" >"$TMP/safehouse.json"; }

# ------------------------------------------------------------ the daemon --

DPID=
# start_daemon NAME: a fresh database, the current config; checked first.
start_daemon() {
	if ! "$DAEMON" -c "$TMP/safehouse.json" --check >"$TMP/$1.check" 2>&1; then
		log "safehoused --check rejects the $1 config:"
		head -n 20 "$TMP/$1.check" | sed 's/^/    /' >&2
		FAILED=1
		return 1
	fi
	rm -f "$TMP"/safehouse.db* "$TMP/control.sock"
	"$DAEMON" -c "$TMP/safehouse.json" -f >"$TMP/$1.log" 2>&1 &
	DPID=$!
	PIDS+=("$DPID")
}
stop_daemon() { [ -n "$DPID" ] && stop_pid "$DPID"; DPID=; }

# Sum of the daemon's Modbus counters: "ok timeouts devices_answering".
mb_counts() {
	"$CTL" -s "$TMP/control.sock" --json status 2>/dev/null | $PY -c '
import json, sys
try:
    d = json.load(sys.stdin).get("modbus") or []
except Exception:
    d = []
print(sum(x.get("ok", 0) for x in d), sum(x.get("timeouts", 0) for x in d),
      sum(1 for x in d if x.get("ok", 0) > 0))'
}
# shellcheck disable=SC2317 # called through wait_for
devices_answering() { # devices_answering N: at least N devices have answered
	local c
	c=$(mb_counts)
	[ "${c##* }" -ge "$1" ] 2>/dev/null
}
sim_total() { # requests the simulator answered, all units
	sim '{"cmd": "counts"}'
	printf '%s' "$REPLY" | $PY -c 'import json, sys; print(sum(json.load(sys.stdin)["units"].values()))'
}
daemon_failed() {
	log "$1; daemon log tail:"
	tail -n 20 "$TMP/$2.log" | sed 's/^/    /' >&2
	FAILED=1
}

# ---------------------------------------------------- 1. points per second --

POLL_ROWS=()
for units in $MB_UNITS; do
	name=poll-$units
	log "polling: $units units x $((DI_PER_UNIT + IR_PER_UNIT)) points, poll_ms $MB_POLL"
	mkconf poll "$units" "$MB_POLL"
	start_daemon "$name" || continue
	if ! wait_for 20 devices_answering "$units"; then
		daemon_failed "not every device answered within 20 s" "$name"
		stop_daemon
		continue
	fi
	sleep 1 # past the start-up reads (every point's first value is a reading)
	read -r ok0 to0 _ <<<"$(mb_counts)"
	s0=$(sim_total)
	c0=$(cpu_ticks "$DPID")
	m0=$(cpu_ticks "$SIM_PIDNUM")
	t0=$(date +%s.%N)
	sleep "$MB_SECONDS"
	read -r ok1 to1 _ <<<"$(mb_counts)"
	t1=$(date +%s.%N)
	s1=$(sim_total)
	c1=$(cpu_ticks "$DPID")
	m1=$(cpu_ticks "$SIM_PIDNUM")
	kill -0 "$DPID" 2>/dev/null || daemon_failed "safehoused died while polling" "$name"
	stop_daemon
	win=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')
	# Two requests per device and poll: 64 discrete inputs, 32 input registers.
	POLL_ROWS+=("$(awk -v u="$units" -v p="$MB_POLL" -v w="$win" -v ok=$((ok1 - ok0)) \
		-v sim=$((s1 - s0)) -v to=$((to1 - to0)) -v di="$DI_PER_UNIT" -v ir="$IR_PER_UNIT" \
		-v dc="$(pct $((c1 - c0)) "$win")" -v sc="$(pct $((m1 - m0)) "$win")" 'BEGIN {
		ppr = (di + ir) / 2
		printf "%6d %7d %8d %10.0f %10.0f %10.0f %9.1f %9.1f %9d %6s%% %6s%%",
			u, u * (di + ir), p, 2 * u * 1000 / p, ok / w, sim / w, ok / w * ppr / 1000,
			ok / w / (2 * u), to, dc, sc }')")
done

# ------------------------------------------------------ 2. input -> coil --

# percentile FILE P: nearest rank over the sorted samples (one a line)
percentile() { sort -n "$1" | awk -v p="$2" '{v[NR] = $1} END {
	if (NR == 0) { print "-"; exit }
	r = int((p * NR + 99) / 100); if (r < 1) r = 1; print v[r] }'; }
LAT_ROWS=()
LAT_CASES=
for poll in $LAT_POLLS; do LAT_CASES+=" $poll:0:$ROUNDS"; done
# and once with a third device on the bus that does not answer
[ "$DEAD_ROUNDS" -gt 0 ] && LAT_CASES+=" $DEAD_POLL:$MQTT_DEAD_UNIT:$DEAD_ROUNDS"
for case in $LAT_CASES; do
	IFS=: read -r poll dead rounds <<<"$case"
	name=latency-$poll-$dead
	label=$poll
	[ "$dead" != 0 ] && label="$poll, unit $dead dead"
	log "latency: discrete input -> siren coil, poll_ms $poll, $rounds rounds" \
		"$([ "$dead" != 0 ] && echo "(unit $dead on the bus not answering)")"
	mkconf latency "$poll" "$dead"
	[ "$dead" != 0 ] && sim "{\"cmd\": \"drop\", \"unit\": $dead}"
	sim '{"cmd": "set", "table": "di", "unit": 1, "address": 0, "values": [0]}'
	sim '{"cmd": "set", "table": "co", "unit": 2, "address": 0, "values": [0]}'
	start_daemon "$name" || continue
	if ! wait_for 20 devices_answering 1; then
		daemon_failed "unit 1 did not answer within 20 s" "$name"
		stop_daemon
		continue
	fi
	sleep 0.5
	: >"$TMP/$name.on"
	: >"$TMP/$name.off"
	lost=0
	for ((r = 0; r < rounds; r++)); do
		for v in 1 0; do
			# A random pause first, so that the change falls anywhere
			# in the poll cycle, not always at the same phase of it.
			sleep "$(awk -v r=$RANDOM -v p="$poll" 'BEGIN {printf "%.3f", r / 32768 * p / 1000}')"
			sim "{\"cmd\": \"round\", \"unit\": 1, \"address\": 0, \"value\": $v, \"coil_unit\": 2, \"coil\": 0, \"timeout_ms\": 20000}"
			us=$(jget latency_us)
			if [ -n "$us" ]; then
				[ "$v" = 1 ] && echo "$us" >>"$TMP/$name.on" || echo "$us" >>"$TMP/$name.off"
			else
				lost=$((lost + 1))
			fi
		done
	done
	kill -0 "$DPID" 2>/dev/null || daemon_failed "safehoused died during the latency rounds" "$name"
	stop_daemon
	[ "$dead" != 0 ] && sim "{\"cmd\": \"restore\", \"unit\": $dead}"
	for dir in on off; do
		f=$TMP/$name.$dir
		LAT_ROWS+=("$(printf '%-18s %-4s %7s %5s %9s %9s %9s %9s' "$label" "$dir" \
			"$(wc -l <"$f")" "$lost" \
			"$(awk -v x="$(percentile "$f" 50)" 'BEGIN {printf "%.1f", x / 1000}')" \
			"$(awk -v x="$(percentile "$f" 95)" 'BEGIN {printf "%.1f", x / 1000}')" \
			"$(awk -v x="$(percentile "$f" 100)" 'BEGIN {printf "%.1f", x / 1000}')" \
			"$(sort -n "$f" | awk 'NR == 1 {printf "%.1f", $1 / 1000}')")")
	done
done

# ---------------------------------------- 3. MQTT alarms beside Modbus --

MQTT_ROWS=()
mqtt_phase() { # mqtt_phase LABEL: the site is configured; one row
	local label=$1 need=$2 name out first lp achieved
	name=mqtt-$need
	out=$TMP/$name
	start_daemon "$name" || return
	if ! wait_for 20 devices_answering "$need"; then
		daemon_failed "the Modbus devices did not answer within 20 s" "$name"
		stop_daemon
		return
	fi
	"$BIN/bench_probe" -p "$PORT" -d 0 -W 15 >"$out.sync" 2>>"$out.tools"
	if [ "$(field ready "$out.sync")" != 1 ]; then
		daemon_failed "safehoused did not answer a probe within 15 s" "$name"
		stop_daemon
		return
	fi
	first=$((1 - $(field last "$out.sync")))
	rm -f "$out.ready"
	"$BIN/bench_load" -q -p "$PORT" -n "$NSENSORS" -r "$RATE" -d 0 -R "$out.ready" \
		>"$out.load" 2>>"$out.tools" &
	lp=$!
	PIDS+=("$lp")
	wait_for 5 test -e "$out.ready" || log "the load generator did not connect"
	local ok0 to0 ok1 to1 t0 t1
	read -r ok0 to0 _ <<<"$(mb_counts)"
	t0=$(date +%s.%N)
	"$BIN/bench_probe" -p "$PORT" -d "$SECONDS_PER" -i 20 -W 5 -s "$first" \
		>"$out.probe" 2>>"$out.tools"
	read -r ok1 to1 _ <<<"$(mb_counts)"
	t1=$(date +%s.%N)
	stop_pid "$lp"
	achieved=$(field rate "$out.load")
	kill -0 "$DPID" 2>/dev/null || daemon_failed "safehoused died in the $label phase" "$name"
	stop_daemon
	MQTT_ROWS+=("$(printf '%-24s %7s %7s %5s %8s %8s %8s %9s %9s' "$label" "${achieved:-0}" \
		"$(field probes "$out.probe")" "$(field lost "$out.probe")" \
		"$(field p50_us "$out.probe")" "$(field p99_us "$out.probe")" \
		"$(field max_us "$out.probe")" \
		"$(awk -v n=$((ok1 - ok0)) -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", n / (b - a)}')" \
		$((to1 - to0)))")
}
mkconf mqtt "$MQTT_UNITS" "$NSENSORS"
log "MQTT probes at $RATE msg/s, $MQTT_UNITS Modbus devices healthy"
mqtt_phase healthy "$MQTT_UNITS"
log "MQTT probes at $RATE msg/s, Modbus unit $MQTT_DEAD_UNIT not answering"
sim "{\"cmd\": \"drop\", \"unit\": $MQTT_DEAD_UNIT}"
mqtt_phase "unit $MQTT_DEAD_UNIT timing out" $((MQTT_UNITS - 1))
sim "{\"cmd\": \"restore\", \"unit\": $MQTT_DEAD_UNIT}"

# --------------------------------------------------------------- report --

echo
echo "1. Modbus TCP polling: one bus, pymodbus simulator on loopback, ${MB_SECONDS}s window," \
	"$DI_PER_UNIT discrete inputs + $IR_PER_UNIT input registers per unit (2 requests per poll)"
printf '%6s %7s %8s %10s %10s %10s %9s %9s %9s %7s %7s\n' units points poll_ms "target r/s" \
	"req/s" "sim req/s" "kpoints/s" "polls/s" timeouts "cpu" "sim cpu"
printf '%s\n' "${POLL_ROWS[@]}"
echo
echo "2. Discrete input (unit 1) -> siren coil (unit 2) written, simulator clock at both ends;" \
	"on = DI 0->1 -> coil 1 (siren on fire), off = DI 1->0 -> coil 0 (siren off)"
printf '%-18s %-4s %7s %5s %9s %9s %9s %9s\n' poll_ms dir samples lost "p50 ms" "p95 ms" \
	"max ms" "min ms"
printf '%s\n' "${LAT_ROWS[@]}"
echo
echo "3. MQTT alarm latency (probe publish -> siren command) at $RATE msg/s of telemetry," \
	"$MQTT_UNITS Modbus units x $((DI_PER_UNIT + IR_PER_UNIT)) points polled every 100 ms" \
	"(timeout_ms 1000, retries 1), ${SECONDS_PER}s per phase"
printf '%-24s %7s %7s %5s %8s %8s %8s %9s %9s\n' modbus load/s probes lost "p50 us" "p99 us" \
	"max us" "mb ok/s" "mb t/o"
printf '%s\n' "${MQTT_ROWS[@]}"
echo
echo "Total bench time: $(($(date +%s) - START)) s"
exit 0
