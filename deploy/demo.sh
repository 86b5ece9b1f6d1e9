#!/usr/bin/env bash
# demo.sh: a boarding house catches fire, on your desk, in about 20 seconds.
#
# Starts a private mosquitto, the safehouse gateway with the demo house
# (deploy/examples/nha-tro.json) and the shipped model rules, and a simulated
# zigbee2mqtt sensor kit; then room 101's smoke detector goes off. Shows the
# siren command and what the commune militia receives, then the gateway's
# status. Everything it starts is stopped on exit. Exit 0 when the siren
# sounded and the militia was alerted, 1 otherwise.
#
# Environment: SAFEHOUSED, SAFEHOUSECTL (default build/...), PYTHON
# (default /usr/bin/python3, which has Debian's python3-paho-mqtt).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
SAFEHOUSED=${SAFEHOUSED:-$ROOT/build/safehoused}
SAFEHOUSECTL=${SAFEHOUSECTL:-$ROOT/build/safehousectl}
KIT=$ROOT/deploy/sim/kit.py

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# 1. Dependencies and build.
if [[ -f $ROOT/deploy/install-deps.sh ]]; then
	say "Installing dependencies (deploy/install-deps.sh)"
	bash "$ROOT/deploy/install-deps.sh"
fi
if [[ -z ${SAFEHOUSED_PREBUILT:-} ]]; then
	say "Building safehouse (build/)"
	if [[ ! -f $ROOT/build/CMakeCache.txt ]]; then
		cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	fi
	cmake --build "$ROOT/build" -j2 --target safehoused safehousectl >/dev/null
fi
for exe in "$SAFEHOUSED" "$SAFEHOUSECTL" "$MOSQUITTO"; do
	[[ -x $exe ]] || { echo "demo: $exe is missing" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/safehouse-demo.XXXXXX)
PIDS=()
cleanup() {
	local rc=$?
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill "${PIDS[i]}" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ $rc -ne 0 ]]; then
		echo
		echo "----- gateway log ($TMP/safehoused.log) -----"
		tail -n 60 "$TMP/safehoused.log" 2>/dev/null || true
		echo "----- broker log -----"
		tail -n 20 "$TMP/mosquitto.log" 2>/dev/null || true
	fi
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 2. A private broker on a free loopback port.
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
{
	cat "$ROOT/deploy/mosquitto/local.conf"
	echo
	echo "persistence_location $TMP/"
	# As root, mosquitto drops to user mosquitto, which cannot write here.
	if [ "$(id -u)" -eq 0 ]; then echo "user root"; fi
	echo "listener $PORT 127.0.0.1"
} >"$TMP/mosquitto.conf"
"$MOSQUITTO" -c "$TMP/mosquitto.conf" >"$TMP/mosquitto.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
	if "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1',$PORT),1)" 2>/dev/null; then
		break
	fi
	sleep 0.1
done

# 3. The demo house, pointed at our broker and temp directory.
CONFIG=$TMP/nha-tro.json
"$PY" - "$ROOT" "$PORT" "$TMP" "$CONFIG" <<'EOF'
import json, sys
root, port, tmp, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
with open(f"{root}/deploy/examples/nha-tro.json", encoding="utf-8") as f:
    cfg = json.load(f)
cfg["mqtt"]["port"] = port
cfg["rules"] = [f"{root}/rules/model/*.rules"]
cfg["database"] = f"{tmp}/safehouse.db"
cfg["control_socket"] = f"{tmp}/control.sock"
cfg.pop("upstream", None)  # the militia's feed goes to the local broker
with open(out, "w", encoding="utf-8") as f:
    json.dump(cfg, f, ensure_ascii=False, indent=2)
EOF
SITE=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["site"]["id"])' "$CONFIG")

say "Starting the gateway for site $SITE (broker 127.0.0.1:$PORT)"
"$SAFEHOUSED" -c "$CONFIG" -f >"$TMP/safehoused.log" 2>&1 &
DPID=$!
PIDS+=($DPID)
ready=0
for _ in $(seq 100); do
	kill -0 "$DPID" 2>/dev/null || break
	if "$SAFEHOUSECTL" -s "$TMP/control.sock" status >/dev/null 2>&1; then
		ready=1
		break
	fi
	sleep 0.1
done
if [[ $ready -ne 1 ]]; then
	echo "demo: the gateway did not come up" >&2
	exit 1
fi

KIT_SUMMARY=$("$PY" - "$CONFIG" <<'EOF'
import collections, json, sys
cfg = json.load(open(sys.argv[1], encoding="utf-8"))
n = collections.Counter(s["kind"] for s in cfg["sensors"])
words = {"smoke": "smoke detector", "heat": "heat detector", "gas": "gas detector",
         "co": "CO detector", "door": "door contact", "window": "window contact",
         "motion": "motion sensor", "panic": "panic button", "water": "water sensor"}
print(", ".join(f"{v} {words.get(k, k + ' sensor')}{'s' if v > 1 else ''}"
                for k, v in n.items()))
EOF
)

cat <<EOF

What you are about to see:
  * A simulated sensor kit (deploy/sim/kit.py) plays the house's zigbee
    devices: $KIT_SUMMARY.
    They report battery, link quality and temperature (the kitchen at about
    30 °C) every second, like real devices; quiet telemetry is not shown.
  * After a few quiet seconds, the smoke detector in room 101 goes off.
    The gateway (safehoused) applies the model rules (rules/model/): it
    raises a FIRE alarm in Phòng 101, sounds the sirens at once (SIREN ON),
    publishes the alarm feed (ALARM RAISED) and calls the owner
    (ALERT -> owner). One detector alone may be cooking smoke, so the
    militia is called only when it is confirmed, or after 60 s if nobody
    acknowledges (positive alarm sequence).
  * 3 s later the detector in room 102 goes off too: a second detector
    confirms the fire, and the commune militia (dân quân) gets the call to
    act (ALERT -> militia) with the house's address and map position.
    All of this happens inside the house's own gateway: no cloud is
    involved.

EOF

# 4 + 5. Watch first (subscribed before anything happens), then the kit.
say "Live: what the gateway does"
"$PY" "$KIT" watch -c "$CONFIG" --port "$PORT" --timeout 25 --ready-file "$TMP/watch.ready" &
WPID=$!
PIDS+=($WPID)
for _ in $(seq 100); do [[ -e $TMP/watch.ready ]] && break; sleep 0.1; done
"$PY" "$KIT" run -c "$CONFIG" --port "$PORT" --seconds 11 --trigger smoke-101 --trigger smoke-102 \
	--trigger-after 4 --trigger-gap 3 &
PIDS+=($!)

set +e
wait "$WPID"
rc=$?
set -e

say "Gateway status (safehousectl status)"
"$SAFEHOUSECTL" -s "$TMP/control.sock" status || true

echo
if [[ $rc -eq 0 ]]; then
	echo "Demo OK: the siren sounded and the militia was alerted, within the house's"
	echo "own gateway; with the internet down the siren would still sound and the alerts"
	echo "would wait in the outbox until the link comes back."
else
	echo "Demo FAILED: the siren command or the militia alert was not seen." >&2
fi
exit "$rc"
