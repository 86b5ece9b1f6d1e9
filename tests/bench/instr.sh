#!/usr/bin/env bash
# Instructions per message: the floor and safehoused under callgrind, the
# same telemetry (run.sh's site and load) at a low fixed rate. Instruction
# counts do not depend on how busy the shared machine is, unlike CPU
# seconds. Prints figures; never fails on a number.
#
#   tests/bench/instr.sh            # 300 msg/s for 20 s to each system
#   BENCH_IRATE=1000 BENCH_ISECONDS=15 tests/bench/instr.sh   # the README's figures
#
# Environment (all optional):
#   BENCH_IRATE       load rate in msg/s under callgrind (default 300)
#   BENCH_ISECONDS    load duration               (default 20)
#   BENCH_SENSORS     telemetry sensors           (default 500)
#   BENCH_SYSTEMS     "floor safehoused" or a subset
#   BENCH_BUILD       build dir with the tools and safehoused (default build)
#   SAFEHOUSED        daemon binary to measure instead
#   BENCH_KEEP=1      keep the temp dir (callgrind outputs, logs)
#   BENCH_CG_OPTS     more callgrind options, e.g. --separate-threads=yes
#                     (then the figure is the busiest thread's: the loop)
#
# Method: start the system under valgrind --tool=callgrind (all threads in
# one count), wait until it answers a probe, zero the counters
# (callgrind_control -z), publish RATE x SECONDS messages, send one more
# probe and wait for its answer (everything before it on the same
# connection has been handled), dump (callgrind_control -d) and divide the
# instructions by the messages. The daemon's store writer commits on its
# own clock (BATCH_MS), so its share is in the count as long as the window
# is long against 250 ms.

set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BENCH_BUILD:-$ROOT/build}
RATE=${BENCH_IRATE:-300}
SECS=${BENCH_ISECONDS:-20}
NSENSORS=${BENCH_SENSORS:-500}
SYSTEMS=${BENCH_SYSTEMS:-floor safehoused}
DAEMON=${SAFEHOUSED:-$BUILD/safehoused}
HZ=$(getconf CLK_TCK)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/safehouse-instr.XXXXXX")
PIDS=()
FAILED=0

# shellcheck source=tests/bench/lib.sh
. "$ROOT/tests/bench/lib.sh"

for t in bench_load bench_probe bench_floor; do
	[ -x "$BUILD/$t" ] || { log "no $BUILD/$t: build first"; exit 1; }
done
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
	{ log "needs valgrind and callgrind_control"; exit 1; }

start_broker
CONF=$TMP/safehouse.json
/usr/bin/python3 "$ROOT/tests/bench/bench_site.py" "$TMP" "$PORT" "$NSENSORS" >"$CONF"

# The sum of the "summary:" or "totals:" line (Ir) of a callgrind output.
ir_of() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }

measure() {
	local sys=$1 out=$TMP/$1 sp sent ir
	if [ "$sys" = floor ]; then
		valgrind --tool=callgrind ${BENCH_CG_OPTS:-} --callgrind-out-file="$out.cg" \
			"$BUILD/bench_floor" -p "$PORT" >"$out.floor" 2>"$out.log" &
	else
		rm -f "$TMP"/safehouse.db*
		valgrind --tool=callgrind ${BENCH_CG_OPTS:-} --callgrind-out-file="$out.cg" \
			"$DAEMON" -c "$CONF" -f >"$out.log" 2>&1 &
	fi
	sp=$!
	PIDS+=("$sp")
	"$BUILD/bench_probe" -p "$PORT" -d 0 -W 60 >"$out.sync" 2>>"$out.tools"
	if [ "$(field ready "$out.sync")" != 1 ]; then
		log "$sys did not answer a probe under callgrind; log tail:"
		tail -n 20 "$out.log" | sed 's/^/    /' >&2
		FAILED=1
		stop_pid "$sp"
		return
	fi
	callgrind_control -z "$sp" >/dev/null 2>&1
	"$BUILD/bench_load" -q -p "$PORT" -n "$NSENSORS" -r "$RATE" -d "$SECS" \
		>"$out.load" 2>>"$out.tools"
	# The probe after the load: answered once the load before it is handled.
	"$BUILD/bench_probe" -p "$PORT" -c 2 -w 30000 -W 60 -s "$((1 - $(field last "$out.sync")))" \
		>"$out.after" 2>>"$out.tools"
	callgrind_control -d "$sp" >/dev/null 2>&1
	sleep 1
	stop_pid "$sp"
	sent=$(field sent "$out.load")
	[ -n "$sent" ] || sent=$(field total_sent "$out.load")
	ir=0
	for f in "$out.cg".*; do
		[ -e "$f" ] || continue
		case $f in *.cg) continue ;; esac
		local v
		v=$(ir_of "$f")
		[ -n "$v" ] && [ "$v" -gt "$ir" ] && ir=$v
	done
	local per
	per=$(awk -v i="$ir" -v n="${sent:-0}" 'BEGIN {printf "%.0f", (n > 0 ? i / n : 0)}')
	printf '%-11s %9s %15s %12s\n' "$sys" "${sent:-?}" "$ir" "$per"
	[ "$per" != 0 ] && PER[$sys]=$per
}
declare -A PER

printf 'Instructions per message under callgrind (%s msg/s for %s s, %s sensors, all threads)\n' \
	"$RATE" "$SECS" "$NSENSORS"
printf '%-11s %9s %15s %12s\n' system messages instructions "instr/msg"
for sys in $SYSTEMS; do
	measure "$sys"
done
# The table at the top of README.md (tests/bench/figures.py).
if [ -n "${PER[floor]:-}" ] && [ -n "${PER[safehoused]:-}" ]; then
	record_figures instr --build-of "$DAEMON" --note "$RATE msg/s for $SECS s under callgrind" \
		"safehoused=${PER[safehoused]}" "floor=${PER[floor]}" "rate=$RATE" \
		"ratio=$(awk -v a="${PER[safehoused]}" -v b="${PER[floor]}" 'BEGIN {printf "%.2f", a / b}')"
fi
