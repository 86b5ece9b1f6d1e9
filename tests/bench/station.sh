#!/bin/bash
# Station benchmark (issue 13): alarm -> open console (SSE) latency with
# 1,000 simulated sites (heartbeats every 60 s, status changes), the
# station's CPU and RSS, and a ramp of site counts to find where the alarm
# p99 passes 1 s. Prints figures; see tests/bench/README.md.
#
#   tests/bench/station.sh [--quick] [station.py options]
#
# --quick: 50 probes, no ramp.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export SAFEHOUSED=${SAFEHOUSED:-$ROOT/build/safehoused}
export SAFEHOUSE_STATION=${SAFEHOUSE_STATION:-$ROOT/build/safehouse-station}
ARGS=(--ramp 5000,20000,50000)
EXTRA=()
for a in "$@"; do
	case $a in
	--quick) ARGS=(--probes 50) ;;
	*) EXTRA+=("$a") ;;
	esac
done
for b in "$SAFEHOUSE_STATION" /usr/sbin/mosquitto; do
	[ -x "$b" ] || { echo "bench: missing $b (build first)" >&2; exit 1; }
done
exec /usr/bin/python3 "$ROOT/tests/bench/station.py" "${ARGS[@]}" "${EXTRA[@]}"
