#!/usr/bin/env bash
# Compliance report generation time: a year of simulated history of a
# 50-sensor house (hourly readings of every sensor, daily batteries, walk
# and siren tests, alarms, faults, disablements, outbox rows), written by
# tests/history_gen through the real store, then `safehoused --report` over
# the whole year, in JSON and in text. Goal: under 2 s on this machine.
# Prints the figures; asserts nothing (the machines are shared and noisy).
#
#   tests/bench/report.sh [BUILD_DIR] [RUNS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
RUNS=${2:-3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

log() { printf 'bench: %s\n' "$*" >&2; }

# 24 rooms with a smoke detector, one kitchen with heat and gas, a door
# per floor... 50 sensors on 4 floors, a siren per floor.
/usr/bin/python3 - "$TMP/site.json" "$ROOT" <<'PY'
import json, sys
path, root = sys.argv[1], sys.argv[2]
zones, sensors, outputs = [], [], []
for f in range(1, 5):
    zones.append({"id": f"hall-{f}", "name": f"Sảnh tầng {f}", "floor": f, "kind": "corridor"})
    outputs.append({"id": f"siren-{f}", "kind": "siren", "zone": f"hall-{f}",
                    "mqtt": {"topic": f"z2m/siren_{f}/set", "format": "zigbee2mqtt"}})
    for r in range(1, 7):
        z = f"room-{f}{r:02d}"
        zones.append({"id": z, "name": f"Phòng {f}{r:02d}", "floor": f, "kind": "room"})
        sensors.append({"id": f"smoke-{f}{r:02d}", "kind": "smoke", "zone": z,
                        "mqtt": {"topic": f"z2m/smoke_{f}{r:02d}", "format": "zigbee2mqtt"}})
zones.append({"id": "kitchen", "name": "Bếp", "floor": 1, "kind": "kitchen"})
for k in ("heat", "gas"):
    sensors.append({"id": f"{k}-kitchen", "kind": k, "zone": "kitchen",
                    "mqtt": {"topic": f"z2m/{k}_kitchen", "format": "zigbee2mqtt"}})
i = 0
while len(sensors) < 50:
    f = i % 4 + 1
    sensors.append({"id": f"door-{i}", "kind": "door", "zone": f"hall-{f}",
                    "mqtt": {"topic": f"z2m/door_{i}", "format": "zigbee2mqtt"}})
    i += 1
cfg = {"site": {"id": "bench", "name": "Nhà trọ đo tốc độ", "address": "x"},
       "database": "bench.db", "mqtt": {"host": "127.0.0.1", "port": 1883},
       "zones": zones, "sensors": sensors, "outputs": outputs,
       "contacts": [{"id": "owner", "via": "upstream"}],
       "criteria": f"{root}/rules/model/criteria.json"}
json.dump(cfg, open(path, "w"), ensure_ascii=False)
PY

log "writing a year of history (50 sensors, hourly readings)..."
t0=$(date +%s.%N)
"$BUILD/history_gen" "$TMP/site.json" "$TMP/bench.db" --end 2026-11-01T00:00:00Z --days 365 --busy
t1=$(date +%s.%N)
events=$(/usr/bin/python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from events').fetchone()[0])" "$TMP/bench.db")
log "history written in $(echo "$t1 - $t0" | bc) s: $events events, $(du -h "$TMP/bench.db" | cut -f1)"

for fmt in json text; do
	for ((i = 1; i <= RUNS; i++)); do
		t0=$(date +%s.%N)
		"$BUILD/safehoused" -c "$TMP/site.json" --report --from 2025-11-01T00:00:00Z \
			--to 2026-11-01T00:00:00Z --format "$fmt" -o "$TMP/report.$fmt"
		t1=$(date +%s.%N)
		printf 'report %-4s run %d: %.3f s (%s bytes)\n' "$fmt" "$i" "$(echo "$t1 - $t0" | bc)" \
			"$(stat -c %s "$TMP/report.$fmt")"
	done
done
