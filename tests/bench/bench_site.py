"""The bench site, shared by run.sh and soak.sh: writes the safehoused config
(JSON, to stdout) and its rule file (TMP/bench.rules) for a private broker.

    bench_site.py TMP PORT NSENSORS [--soak K]

Site `bench`, two zones, NSENSORS zigbee2mqtt telemetry sensors (half smoke
detectors on bench/smoke_NNN, half doors on bench/door_NNN, as bench_load
publishes them), the probe smoke detector on bench/probe, one zigbee2mqtt
siren on bench/siren/set, the contact `militia` via upstream (no upstream
broker, so the feed goes to the local broker), and the two probe rules
(probe detected -> siren on fire, clear -> siren off).

--soak K adds what soak.sh needs: a zone `soak` with K smoke detectors
(soak-01.. on bench/soak_01..) that raise a latched fire alarm and sound
the siren, a heat detector (heat-soak, bench/heat_soak) and a panic button
(panic-soak, bench/panic_soak) as targets of the malformed payloads. The
telemetry smoke detectors are in the other zones, so the load never touches
the soak alarm. BENCH_HASS=1 keeps Home Assistant mirroring on.
"""

import argparse
import json
import os
import sys

PROBE_RULES = """rule "bench probe on"
when sensor "probe" becomes detected
then siren on fire
end
rule "bench probe off"
when sensor "probe" becomes clear
then siren off
end
"""

# A latched fire alarm per detection, like the model's first fire rule, but
# only for the soak zone (no alert: the soak counts alarms, not alerts).
SOAK_RULES = """rule "soak smoke raises the fire alarm"
when smoke in zone "soak" becomes detected
then
  alarm fire "soak: smoke in ${zone_name}"
  siren on fire
end
"""


ZONES = [{"id": "floor-1", "name": "Floor 1", "floor": 1, "kind": "room"},
         {"id": "floor-2", "name": "Floor 2", "floor": 2, "kind": "corridor"}]


def telemetry_sensors(n):
    """The n telemetry sensors bench_load publishes for (half smoke, half
    door contacts, on bench/KIND_NNN) and the probe detector; also used by
    modbus.sh's MQTT phase."""
    sensors = []
    for kind, count in (("smoke", (n + 1) // 2), ("door", n // 2)):
        for i in range(1, count + 1):
            sensors.append({"id": "%s-%03d" % (kind, i), "kind": kind,
                            "zone": ZONES[i % 2]["id"],
                            "mqtt": {"topic": "bench/%s_%03d" % (kind, i),
                                     "format": "zigbee2mqtt"}})
    sensors.append({"id": "probe", "kind": "smoke", "zone": "floor-1",
                    "mqtt": {"topic": "bench/probe", "format": "zigbee2mqtt"}})
    return sensors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tmp")
    ap.add_argument("port", type=int)
    ap.add_argument("nsensors", type=int)
    ap.add_argument("--soak", type=int, default=0, metavar="K")
    a = ap.parse_args()

    zones = list(ZONES)
    sensors = telemetry_sensors(a.nsensors)
    rules = PROBE_RULES
    if a.soak:
        zones.append({"id": "soak", "name": "Soak", "floor": 3, "kind": "room"})
        for i in range(1, a.soak + 1):
            sensors.append({"id": "soak-%02d" % i, "kind": "smoke", "zone": "soak",
                            "mqtt": {"topic": "bench/soak_%02d" % i,
                                     "format": "zigbee2mqtt"}})
        sensors.append({"id": "heat-soak", "kind": "heat", "zone": "floor-2",
                        "mqtt": {"topic": "bench/heat_soak", "format": "zigbee2mqtt"}})
        sensors.append({"id": "panic-soak", "kind": "panic", "zone": "floor-2",
                        "mqtt": {"topic": "bench/panic_soak", "format": "zigbee2mqtt"}})
        rules += SOAK_RULES
    with open(os.path.join(a.tmp, "bench.rules"), "w") as f:
        f.write(rules)
    conf = {
        "site": {"id": "bench", "name": "bench"},
        "database": a.tmp + "/safehouse.db",
        "control_socket": a.tmp + "/control.sock",
        "mqtt": {"host": "127.0.0.1", "port": a.port},
        "zones": zones,
        "sensors": sensors,
        "outputs": [{"id": "siren-bench", "kind": "siren",
                     "mqtt": {"topic": "bench/siren/set", "format": "zigbee2mqtt"}}],
        "contacts": [{"id": "militia", "via": "upstream"}],
        "rules": ["bench.rules"],
        # Home Assistant mirroring publishes every door toggle again
        # (retained): off by default here, so that the figures compare with
        # the floor; BENCH_HASS=1 measures it on.
        "homeassistant": {"enabled": os.environ.get("BENCH_HASS", "0") == "1"},
    }
    json.dump(conf, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
