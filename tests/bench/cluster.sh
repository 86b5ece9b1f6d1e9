#!/bin/bash
# City-scale benchmark (issue 14): 10,000 simulated sites (heartbeat every
# 60 s) plus 50 alarms/s on a three-node NATS cluster, one station on
# PostgreSQL: alarm -> console p50/p99, station CPU and RSS, PostgreSQL
# rows/s, and the failover time after a broker node is killed. Prints
# figures; see tests/bench/README.md.
#
#   tests/bench/cluster.sh [--quick] [cluster.py options]
#
# --quick: 2,000 sites, 10 s steady, a burst of 1,000.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export SAFEHOUSED=${SAFEHOUSED:-$ROOT/build/safehoused}
export SAFEHOUSE_STATION=${SAFEHOUSE_STATION:-$ROOT/build/safehouse-station}
ARGS=()
for a in "$@"; do
	case $a in
	--quick) ARGS+=(--sites 2000 --links 40 --seconds 10 --burst 1000) ;;
	*) ARGS+=("$a") ;;
	esac
done
for b in "$SAFEHOUSE_STATION" /usr/sbin/mosquitto /usr/sbin/nats-server \
	/usr/lib/postgresql/15/bin/postgres; do
	[ -x "$b" ] || { echo "bench: missing $b (build first; tests/run.sh installs the rest)" >&2; exit 1; }
done
exec /usr/bin/python3 "$ROOT/tests/bench/cluster.py" "${ARGS[@]}"
