#!/usr/bin/python3
"""A simulated zigbee2mqtt sensor kit for a safehouse site, and a watcher
that shows what the gateway does about it.

    kit.py run   -c CONFIG [--host H] [--port P] [--seconds 8] [--interval 1]
                 [--trigger smoke-101 [--trigger smoke-102] --trigger-after 4]
    kit.py watch -c CONFIG [--host H] [--port P] [--timeout 25] [--until-ack]

`run` publishes, for every zigbee2mqtt sensor of the site config, the
telemetry a real device sends (retained availability "online", battery,
link quality, voltage, temperature with noise, door contact, gas/smoke
false), every --interval seconds for --seconds; after --trigger-after
seconds it makes the --trigger sensor detect (smoke, gas, heat, a door
opening or a panic press, by its kind).

`watch` subscribes to the site's sirens and the upstream feed (alarm,
alert, status) and prints each message with a short English label. It exits
0 once it has seen a siren command and an alert to the militia (and, with
--until-ack, an alarm acknowledged), 1 when --timeout passes first.

Needs python3-paho-mqtt (Debian, 1.6 API).
"""

import argparse
import json
import random
import sys
import textwrap
import threading
import time

import paho.mqtt.client as paho


def load_config(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def z2m_sensors(cfg):
    for s in cfg.get("sensors", []):
        mq = s.get("mqtt")
        if mq and mq.get("format", "zigbee2mqtt") == "zigbee2mqtt" and mq.get("topic"):
            yield s


def connect(host, port, client_id):
    c = paho.Client(client_id=client_id, clean_session=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            c.connect(host, port, keepalive=30)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    c.loop_start()
    return c


# --------------------------------------------------------------------------
# run: the sensor kit


class Device:
    """The state of one simulated device: what it would report now."""

    def __init__(self, sensor, rng):
        self.s = sensor
        self.rng = rng
        self.kind = sensor.get("kind", "generic")
        self.battery = rng.randint(70, 100)
        self.voltage = 2900 + self.battery * 3
        self.alarm = False

    def payload(self):
        r = self.rng
        p = {"linkquality": r.randint(60, 200)}
        battery_powered = self.kind not in ("gas", "co", "power")
        if battery_powered:
            p.update(battery=self.battery, battery_low=self.battery < 20, voltage=self.voltage)
        k = self.kind
        if k == "smoke":
            p.update(smoke=self.alarm, tamper=False, test=False)
        elif k == "heat":
            p["temperature"] = round(67.0 if self.alarm else 30.0 + r.gauss(0, 0.4), 1)
        elif k == "gas":
            p.update(gas=self.alarm, test=False)
        elif k == "co":
            p.update(carbon_monoxide=self.alarm)
        elif k == "water":
            p.update(water_leak=self.alarm)
        elif k in ("door", "window"):
            p.update(contact=not self.alarm, tamper=False)
        elif k == "motion":
            p.update(occupancy=self.alarm)
        elif k == "panic":
            if self.alarm:
                p["action"] = "emergency"
                self.alarm = False  # a press is an event
        return p


def cmd_run(args):
    cfg = load_config(args.config)
    rng = random.Random(args.seed)
    devices = [Device(s, rng) for s in z2m_sensors(cfg)]
    if not devices:
        print("kit: no zigbee2mqtt sensors in the config", file=sys.stderr)
        return 1
    by_id = {d.s["id"]: d for d in devices}
    triggers = args.trigger or []
    for t in triggers:
        if t not in by_id:
            print(f"kit: unknown sensor {t!r}", file=sys.stderr)
            return 1
    c = connect(args.host, args.port, f"sim-kit-{rng.randint(0, 1 << 30):x}")
    try:
        for d in devices:
            c.publish(d.s["mqtt"]["topic"] + "/availability",
                      json.dumps({"state": "online"}), qos=1, retain=True)
        start = time.monotonic()
        fired = 0
        while time.monotonic() - start < args.seconds:
            # The triggers go off one after the other, trigger_gap apart:
            # a second detector confirming the first is what calls the
            # militia at once in the model (positive alarm sequence).
            while (fired < len(triggers) and time.monotonic() - start
                   >= args.trigger_after + fired * args.trigger_gap):
                d = by_id[triggers[fired]]
                d.alarm = True
                fired += 1
                print(f"kit: {d.s['id']} ({d.s.get('name', d.s['id'])}) now detects "
                      f"{d.kind}", flush=True)
                info = c.publish(d.s["mqtt"]["topic"], json.dumps(d.payload()), qos=1)
                info.wait_for_publish(5)
            for d in devices:
                info = c.publish(d.s["mqtt"]["topic"], json.dumps(d.payload()), qos=1)
            info.wait_for_publish(5)
            time.sleep(args.interval * rng.uniform(0.8, 1.2))
    finally:
        c.disconnect()
        c.loop_stop()
    return 0


# --------------------------------------------------------------------------
# watch: what the gateway does


def short(v, n=60):
    s = str(v)
    return s if len(s) <= n else s[: n - 1] + "…"


def cmd_watch(args):
    cfg = load_config(args.config)
    site = cfg["site"]["id"]
    prefix = (cfg.get("upstream") or {}).get("prefix", "safehouse")
    base = f"{prefix}/{site}"
    sirens = {o["mqtt"]["topic"]: o["id"] for o in cfg.get("outputs", []) if o.get("mqtt")}
    seen = {"siren": False, "militia": False}
    if args.until_ack:
        seen["acknowledged"] = False
    done = threading.Event()
    t0 = args.t0 or time.time()

    def out(label, text):
        print(f"[{time.time() - t0:5.1f}s] {label:<14} {text}", flush=True)

    def on_connect(c, u, flags, rc):
        c.subscribe([(t, 1) for t in sirens] + [(base + "/#", 1)])

    def on_message(c, u, m):
        try:
            d = json.loads(m.payload.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            d = None
        if m.topic in sirens:
            w = (d or {}).get("warning", {}) if isinstance(d, dict) else {}
            if w.get("mode") == "stop":
                out("SIREN OFF", f"{sirens[m.topic]}")
            else:
                out("SIREN ON", f"{sirens[m.topic]}: pattern {w.get('mode')}, level "
                                f"{w.get('level')}, strobe {w.get('strobe')}, "
                                f"{w.get('duration')} s")
                seen["siren"] = True
        elif m.topic == base + "/alarm" and isinstance(d, dict):
            out(f"ALARM {str(d.get('state')).upper()}",
                f"#{d.get('id')} {d.get('class')} in {d.get('zone_name')} "
                f"(sensor {d.get('sensor')}, seq {d.get('seq')})")
            out("", f"rule: {short(d.get('rule'))}; at {d.get('at')}")
            out("", f"address: {short(d.get('address'), 70)}; geo {d.get('geo')}")
            if d.get("state") == "acknowledged":
                if d.get("acknowledged_by"):
                    out("", f"acknowledged by {d.get('acknowledged_by')}")
                seen["acknowledged"] = True
        elif m.topic == base + "/alert" and isinstance(d, dict):
            out(f"ALERT -> {d.get('to')}",
                f"priority {d.get('priority')}, {d.get('class')} in {d.get('zone_name')} "
                f"(alarm #{d.get('alarm')})")
            lines = textwrap.wrap(f"message: {d.get('message')}", 76) or [""]
            for line in lines:
                out("", line)
            if d.get("to") == "militia":
                seen["militia"] = True
        elif m.topic == base + "/status" and isinstance(d, dict):
            out("SITE STATUS", f"online {d.get('online')}, mode {d.get('mode')}, "
                               f"{len(d.get('alarms') or [])} active alarm(s), "
                               f"{d.get('faults')} fault(s)")
        elif m.topic == base + "/heartbeat":
            out("HEARTBEAT", "the site is alive")
        if all(seen.values()):
            done.set()

    c = paho.Client(client_id=f"sim-watch-{random.randint(0, 1 << 30):x}", clean_session=True)
    c.on_connect = on_connect
    c.on_message = on_message

    def on_subscribe(c, u, mid, qos):
        # Tell the caller we are subscribed before it starts the sensors.
        if args.ready_file:
            open(args.ready_file, "w").close()

    c.on_subscribe = on_subscribe
    deadline = time.monotonic() + 10
    while True:
        try:
            c.connect(args.host, args.port, keepalive=30)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    c.loop_start()
    ok = done.wait(args.timeout)
    if ok:
        # Let the rest of the burst (the owner's alert, the status) print.
        time.sleep(args.linger)
    c.disconnect()
    c.loop_stop()
    if not ok:
        missing = [k for k, v in seen.items() if not v]
        print(f"watch: did not see: {', '.join(missing)}", flush=True)
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "watch"):
        p = sub.add_parser(name)
        p.add_argument("-c", "--config", required=True)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=1883)
    r = sub.choices["run"]
    r.add_argument("--seconds", type=float, default=8)
    r.add_argument("--interval", type=float, default=1.0)
    r.add_argument("--trigger", action="append",
                   help="sensor id to trigger, e.g. smoke-101 (repeatable)")
    r.add_argument("--trigger-after", type=float, default=4)
    r.add_argument("--trigger-gap", type=float, default=3,
                   help="seconds between one trigger and the next")
    r.add_argument("--seed", type=int, default=None)
    w = sub.choices["watch"]
    w.add_argument("--timeout", type=float, default=25)
    w.add_argument("--linger", type=float, default=1.0)
    w.add_argument("--ready-file")
    w.add_argument("--until-ack", action="store_true",
                   help="also wait for an alarm to be acknowledged")
    w.add_argument("--t0", type=float, help="the epoch time the printed seconds count from")
    args = ap.parse_args()
    return cmd_run(args) if args.cmd == "run" else cmd_watch(args)


if __name__ == "__main__":
    sys.exit(main())
