#!/usr/bin/env bash
# Soak benchmark: safehoused for N minutes under 5,000 msg/s of zigbee2mqtt
# telemetry with a real fire alarm every minute (raised, siren, feed, reset);
# RSS every minute, growth after the warm-up, alarms missed. Or, with
# --malformed ROUNDS, rounds of malformed payloads with RSS after each round
# (a leak grows every round, the allocator settling does not), optionally
# under valgrind. Prints figures; exits 0 unless it could not run. Not part
# of tests/run.sh (too long). See tests/bench/README.md ("Soak benchmark").
#
#   soak.sh [--minutes N] [--warmup M] [--rate R] [--valgrind]
#   soak.sh --malformed ROUNDS [--payloads N] [--valgrind]
#
# Environment: BENCH_SENSORS (500), BENCH_BUILD (build-bench), SAFEHOUSED,
# SAFEHOUSECTL, BENCH_KEEP=1, TMPDIR (as in run.sh).

set -u

# The whole script is one { } block: bash parses it before running any of
# it, so editing the file during an hour-long run cannot break that run.
{
usage() {
	echo "usage: soak.sh [--minutes N] [--warmup M] [--rate R] [--valgrind]" >&2
	echo "       soak.sh --malformed ROUNDS [--payloads N] [--valgrind]" >&2
	exit 2
}

MINUTES=60
WARMUP=2
RATE=5000
ROUNDS=0
PAYLOADS=2000
VALGRIND=0
while [ $# -gt 0 ]; do
	case $1 in
	--minutes) MINUTES=${2:-} && shift ;;
	--warmup) WARMUP=${2:-} && shift ;;
	--rate) RATE=${2:-} && shift ;;
	--malformed) ROUNDS=${2:-} && shift ;;
	--payloads) PAYLOADS=${2:-} && shift ;;
	--valgrind) VALGRIND=1 ;;
	*) usage ;;
	esac
	shift
done
for v in "$MINUTES" "$WARMUP" "$RATE" "$ROUNDS" "$PAYLOADS"; do
	[[ $v =~ ^[0-9]+$ ]] || usage
done
[ "$MINUTES" -gt "$WARMUP" ] || { echo "soak.sh: --minutes must exceed --warmup ($WARMUP)" >&2; exit 2; }

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
NSENSORS=${BENCH_SENSORS:-500}
NSOAK=10 # detectors in the soak zone; each minute the next one raises the alarm
PY=/usr/bin/python3
HZ=$(getconf CLK_TCK)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/safehouse-soak.XXXXXX")
PIDS=()
FAILED=0

# shellcheck source=tests/bench/lib.sh
. "$ROOT/tests/bench/lib.sh"

# ---------------------------------------------------------------- build --

build_tools bench_load bench_probe safehousectl safehoused
DAEMON=${SAFEHOUSED:-$BUILD/safehoused}
CTL=${SAFEHOUSECTL:-$BUILD/safehousectl}
if [ "$VALGRIND" = 1 ] && ! command -v valgrind >/dev/null; then
	log "valgrind is not installed"
	exit 1
fi

# ------------------------------------------------------- broker, daemon --

start_broker

CONF=$TMP/safehouse.json
SOCK=$TMP/control.sock
$PY "$ROOT/tests/bench/bench_site.py" "$TMP" "$PORT" "$NSENSORS" --soak "$NSOAK" >"$CONF"
if ! "$DAEMON" -c "$CONF" --check >"$TMP/check.log" 2>&1; then
	log "safehoused --check rejects the soak config:"
	head -n 20 "$TMP/check.log" | sed 's/^/    /' >&2
	FAILED=1
	exit 1
fi

if [ "$VALGRIND" = 1 ]; then
	valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible \
		--log-file="$TMP/valgrind.log" "$DAEMON" -c "$CONF" -f >"$TMP/daemon.log" 2>&1 &
else
	"$DAEMON" -c "$CONF" -f >"$TMP/daemon.log" 2>&1 &
fi
DPID=$!
PIDS+=("$DPID")

# Ready when it answers a probe (the siren rule of bench/probe), no sleep.
"$BUILD/bench_probe" -p "$PORT" -d 0 -W $((VALGRIND ? 120 : 15)) >"$TMP/sync" 2>>"$TMP/tools.log"
if [ "$(field ready "$TMP/sync")" != 1 ]; then
	log "safehoused did not answer a probe; log tail:"
	tail -n 20 "$TMP/daemon.log" | sed 's/^/    /' >&2
	FAILED=1
	exit 1
fi
# The readiness probe may have left the siren on (probe detected): one more
# probe turns it off, so that each alarm's "siren on" is a new command.
if [ "$(field last "$TMP/sync")" = 1 ]; then
	"$BUILD/bench_probe" -p "$PORT" -d 0 -s 0 -W 30 >"$TMP/sync2" 2>>"$TMP/tools.log"
fi

died() {
	kill -0 "$DPID" 2>/dev/null && return 1
	log "safehoused died; log tail:"
	tail -n 20 "$TMP/daemon.log" | sed 's/^/    /' >&2
	FAILED=1
	return 0
}

mem_cols() { # RSS, RssAnon, RssFile+RssShmem, HWM of the daemon, kB
	printf '%9s %9s %9s %9s' "$(status_kb "$DPID" VmRSS)" "$(status_kb "$DPID" RssAnon)" \
		$(($(status_kb "$DPID" RssFile) + $(status_kb "$DPID" RssShmem))) \
		"$(status_kb "$DPID" VmHWM)"
}
# Under valgrind: stop the daemon cleanly, so that valgrind reports what is
# still held, and print its summary. A leak check of a big heap takes a
# while, hence the long wait. RSS figures under valgrind are valgrind's own
# (shadow memory, translated code), not the daemon's.
valgrind_report() {
	[ "$VALGRIND" = 1 ] || return 0
	kill -TERM "$DPID"
	# shellcheck disable=SC2317 # called through wait_for
	gone() { ! kill -0 "$DPID" 2>/dev/null; }
	wait_for 180 gone || log "safehoused did not stop within 180 s under valgrind"
	wait "$DPID" 2>/dev/null
	echo "valgrind --leak-check=full (log: $TMP/valgrind.log; RSS above is valgrind's):"
	grep -E "in use at exit|total heap usage|definitely lost|indirectly lost|possibly lost|still reachable|ERROR SUMMARY" \
		"$TMP/valgrind.log" | sed 's/^==[0-9]*== */    /'
	BENCH_KEEP=1
}
# Readings the daemon took (status "accepted"): telemetry that reached it.
accepted() {
	"$CTL" -s "$SOCK" --json status 2>/dev/null |
		$PY -c 'import json, sys; print(int(json.load(sys.stdin).get("accepted", 0)))' 2>/dev/null ||
		echo 0
}
pct_growth() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%+.2f", (a > 0 ? 100 * (b - a) / a : 0)}'; }

# ----------------------------------------------------- malformed rounds --

if [ "$ROUNDS" -gt 0 ]; then
	log "malformed: $ROUNDS round(s) of $PAYLOADS payloads$([ "$VALGRIND" = 1 ] && echo ", under valgrind")"
	printf '%5s %9s %9s %9s %9s %9s %9s %9s %7s\n' round payloads rejected "rss kB" "anon kB" \
		"file kB" "hwm kB" "+rss kB" seconds
	RSS0=$(status_kb "$DPID" VmRSS)
	printf '%5s %9s %9s %s %9s %7s\n' 0 0 - "$(mem_cols)" - -
	prev=$RSS0
	declare -a GROW=()
	for ((r = 1; r <= ROUNDS; r++)); do
		$PY "$ROOT/tests/bench/soak_tool.py" malformed "$PORT" "$PAYLOADS" "$SOCK" "$CTL" \
			>"$TMP/malformed.$r" 2>>"$TMP/tools.log" || log "round $r: soak_tool failed"
		died && exit 1
		rss=$(status_kb "$DPID" VmRSS)
		GROW+=($((rss - prev)))
		printf '%5s %9s %9s %s %9s %7s\n' "$r" "$((r * PAYLOADS))" \
			"$(field counted "$TMP/malformed.$r")" "$(mem_cols)" "$((rss - prev))" \
			"$(field seconds "$TMP/malformed.$r")"
		prev=$rss
	done
	echo
	later=0
	for ((r = 1; r < ${#GROW[@]}; r++)); do later=$((later + GROW[r])); done
	echo "RSS: $RSS0 kB before, $prev kB after $((ROUNDS * PAYLOADS)) payloads" \
		"($(pct_growth "$RSS0" "$prev")%); first round ${GROW[0]} kB," \
		"rounds 2..$ROUNDS $later kB in all" \
		"(a leak grows every round by about the same; settling stops after the first)"
	valgrind_report
	exit 0
fi

# ----------------------------------------------------------------- soak --

"$BUILD/bench_load" -q -p "$PORT" -n "$NSENSORS" -r "$RATE" -d 0 -P 1 -R "$TMP/load.ready" \
	>"$TMP/load.out" 2>>"$TMP/tools.log" &
LPID=$!
PIDS+=("$LPID")
wait_for 5 test -e "$TMP/load.ready" || { log "the load generator did not connect"; FAILED=1; exit 1; }

log "soak: $MINUTES minute(s) at $RATE msg/s, an alarm every minute, warm-up $WARMUP minute(s)"
printf '%6s %9s %9s %9s %9s %6s %5s %7s %7s %6s %8s %8s\n' minute "rss kB" "anon kB" "file kB" \
	"hwm kB" alarms seen "msg/s" "in/s" drops "siren ms" "feed ms"
T0=$(date +%s)
printf '%6s %s %6s %5s %7s %7s %6s %8s %8s\n' 0 "$(mem_cols)" 0 0 - - 0 - -
RSS_START=$(status_kb "$DPID" VmRSS) # replaced by minute WARMUP's
RSS_END=$RSS_START
EXPECTED=0
SEEN=0
RESETS_FAILED=0
MISSED_AT=()
prev_sent=0
prev_at=0
prev_acc=$(accepted)
prev_t=$(date +%s.%N)
drops0=$(grep -c 'Outgoing messages are being dropped' "$TMP/mosquitto.log")
for ((m = 1; m <= MINUTES; m++)); do
	# The alarm at the start of the minute, on the next detector in turn.
	sensor=$(printf 'soak-%02d' $(((m - 1) % NSOAK + 1)))
	EXPECTED=$((EXPECTED + 1))
	$PY "$ROOT/tests/bench/soak_tool.py" alarm "$PORT" "$sensor" "$SOCK" "$CTL" \
		>"$TMP/alarm.$m" 2>>"$TMP/tools.log"
	if [ "$(field raised "$TMP/alarm.$m")" = 1 ] && [ "$(field siren "$TMP/alarm.$m")" = 1 ]; then
		SEEN=$((SEEN + 1))
	else
		MISSED_AT+=("$m")
		log "minute $m: alarm of $sensor not seen: $(cat "$TMP/alarm.$m")"
	fi
	if [ "$(field reset "$TMP/alarm.$m")" != 1 ]; then
		RESETS_FAILED=$((RESETS_FAILED + 1))
		log "minute $m: reset failed: $(cat "$TMP/alarm.$m")"
	fi
	# Sleep to the end of the minute on the wall clock, so that alarms stay
	# one minute apart however long a round took.
	left=$((T0 + m * 60 - $(date +%s)))
	[ "$left" -gt 0 ] && sleep "$left"
	died && exit 1
	sent=$(field total_sent "$TMP/load.out")
	at=$(field at_s "$TMP/load.out")
	rate=$(awk -v s="${sent:-0}" -v ps="$prev_sent" -v a="${at:-0}" -v pa="$prev_at" \
		'BEGIN {printf "%.0f", (a > pa ? (s - ps) / (a - pa) : 0)}')
	prev_sent=${sent:-0}
	prev_at=${at:-0}
	acc=$(accepted)
	t=$(date +%s.%N)
	in_rate=$(awk -v a="$acc" -v pa="$prev_acc" -v t="$t" -v pt="$prev_t" \
		'BEGIN {printf "%.0f", (t > pt ? (a - pa) / (t - pt) : 0)}')
	prev_acc=$acc
	prev_t=$t
	drops=$(($(grep -c 'Outgoing messages are being dropped' "$TMP/mosquitto.log") - drops0))
	rss=$(status_kb "$DPID" VmRSS)
	[ "$m" = "$WARMUP" ] && RSS_START=$rss
	RSS_END=$rss
	printf '%6s %s %6s %5s %7s %7s %6s %8s %8s\n' "$m" "$(mem_cols)" "$EXPECTED" "$SEEN" "$rate" \
		"$in_rate" "$drops" "$(field siren_ms "$TMP/alarm.$m")" "$(field feed_ms "$TMP/alarm.$m")"
done
echo
echo "RSS growth after the ${WARMUP}-minute warm-up: $RSS_START kB (minute $WARMUP) ->" \
	"$RSS_END kB (minute $MINUTES): $(pct_growth "$RSS_START" "$RSS_END")% (goal < 1%);" \
	"alarms expected $EXPECTED, seen $SEEN, missed $((EXPECTED - SEEN))${MISSED_AT[*]:+ (minutes ${MISSED_AT[*]})};" \
	"resets failed $RESETS_FAILED"
stop_pid "$LPID"
valgrind_report
exit 0
}
