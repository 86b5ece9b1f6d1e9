#!/usr/bin/python3
"""Cold-start benchmark (issue 16): a site of 1,000 sensors and 2,000 rules.

Prints, over several runs (median and worst):
 - `safehoused --check` of that config, exec to exit;
 - exec to READY=1 on a private NOTIFY_SOCKET (config and rules loaded,
   store open, sirens known);
 - exec to "sirens ready": the daemon's retained status `online` seen on
   the broker, which it publishes once its local link is up and subscribed;
 - the same with an existing database (a restart) and with a new one (a
   first start).
The clock is CLOCK_MONOTONIC of this process; the exec is the moment just
before Popen. Figures only: nothing asserts a timing."""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "blackbox"))
sys.path.insert(0, str(ROOT / "tests" / "bench"))

import paho.mqtt.client as paho  # noqa: E402

from bench_site import ZONES, telemetry_sensors  # noqa: E402
from helpers import Broker  # noqa: E402

SAFEHOUSED = os.environ.get("SAFEHOUSED", str(ROOT / "build" / "safehoused"))

STATUS = []  # what the daemon said it loaded (its READY=1 STATUS= line)


def rules_text(nrules, nsmoke):
    """nrules rules over the telemetry sensors: per-sensor alarms with text,
    zone rules with durations and time windows, as a large house's file
    would have."""
    out = []
    for i in range(nrules):
        s = 1 + i % nsmoke
        if i % 4 == 0:
            out.append(f'rule "r{i} smoke {s:03d} raises the fire alarm"\n'
                       f'when sensor "smoke-{s:03d}" becomes detected\n'
                       f'then\n  alarm fire "Khói ở ${{zone_name}}: ${{sensor_name}} ({i})"\n'
                       f'  siren on fire\nend\n')
        elif i % 4 == 1:
            out.append(f'rule "r{i} door {s:03d} open at night"\n'
                       f'when sensor "door-{s:03d}" is open for 10m\n'
                       f'if time between 22:00 and 06:00\n'
                       f'then\n  supervisory "Cửa mở lâu: ${{sensor_name}} ({i})"\nend\n')
        elif i % 4 == 2:
            z = ZONES[i % len(ZONES)]["id"]
            out.append(f'rule "r{i} smoke in {z}"\n'
                       f'when smoke in zone "{z}" becomes detected\n'
                       f'then\n  alarm fire "Cháy ở ${{zone_name}} ({i})"\n  siren on fire\nend\n')
        else:
            out.append(f'rule "r{i} smoke {s:03d} offline"\n'
                       f'when sensor "smoke-{s:03d}" becomes offline\n'
                       f'then\n  fault "Mất kết nối: ${{sensor_name}} ({i})"\nend\n')
    return "\n".join(out)


def write_site(tmp, port, nsensors, nrules):
    sensors = telemetry_sensors(nsensors - 1)
    (tmp / "big.rules").write_text(rules_text(nrules, (nsensors - 1) // 2))
    conf = {
        "site": {"id": "coldstart", "name": "coldstart"},
        "database": str(tmp / "safehouse.db"),
        "control_socket": str(tmp / "control.sock"),
        "mqtt": {"host": "127.0.0.1", "port": port},
        "zones": ZONES,
        "sensors": sensors,
        "outputs": [{"id": "siren-bench", "kind": "siren",
                     "mqtt": {"topic": "bench/siren/set", "format": "zigbee2mqtt"}}],
        "rules": ["big.rules"],
        "homeassistant": {"enabled": False},
    }
    path = tmp / "site.json"
    path.write_text(json.dumps(conf, indent=1))
    return path


def time_check(conf, runs):
    t = []
    for _ in range(runs):
        t0 = time.monotonic()
        r = subprocess.run([SAFEHOUSED, "-c", str(conf), "--check"], capture_output=True,
                           text=True)
        t.append((time.monotonic() - t0) * 1000)
        if r.returncode != 0:
            raise SystemExit(f"--check failed:\n{r.stdout}{r.stderr}")
    return t


class StatusWatch:
    """Subscribes to the site's retained status; records when `online`
    arrives (a fresh one: the test clears it before each start)."""

    def __init__(self, port, topic):
        self.topic = topic
        self.ev = threading.Event()
        self.t = None
        self.c = paho.Client(client_id=f"coldstart-watch-{os.getpid()}")
        self.c.on_message = self._msg
        self.c.connect("127.0.0.1", port)
        self.c.subscribe(topic, 1)
        self.c.loop_start()

    def _msg(self, c, u, m):
        try:
            d = json.loads(m.payload)
        except ValueError:
            return
        if d.get("online") is True and not self.ev.is_set():
            self.t = time.monotonic()
            self.ev.set()

    def arm(self):
        self.ev.clear()
        self.t = None

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def time_start(conf, tmp, broker, watch, runs, fresh):
    ready, online = [], []
    global STATUS
    sockpath = str(tmp / "notify.sock")
    for _ in range(runs):
        if fresh:
            for f in tmp.glob("safehouse.db*"):
                f.unlink()
        # Clear the retained status so that only this run's counts.
        subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-t", watch.topic, "-r",
                        "-n"], check=True)
        time.sleep(0.2)
        watch.arm()
        if os.path.exists(sockpath):
            os.unlink(sockpath)
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(sockpath)
        ns.settimeout(30)
        env = dict(os.environ, NOTIFY_SOCKET=sockpath)
        log = open(tmp / "daemon.log", "ab")
        t0 = time.monotonic()
        p = subprocess.Popen([SAFEHOUSED, "-c", str(conf), "-f"], env=env, stdout=log,
                             stderr=subprocess.STDOUT)
        try:
            while True:
                msg = ns.recv(4096).decode()
                if "READY=1" in msg:
                    ready.append((time.monotonic() - t0) * 1000)
                    STATUS = [x[7:] for x in msg.splitlines() if x.startswith("STATUS=")]
                    break
            if not watch.ev.wait(30):
                raise SystemExit("no retained status online within 30 s")
            online.append((watch.t - t0) * 1000)
        finally:
            p.terminate()
            p.wait(30)
            ns.close()
            log.close()
    return ready, online


def fmt(v):
    return f"median {statistics.median(v):7.1f} ms   worst {max(v):7.1f} ms"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sensors", type=int, default=1000)
    ap.add_argument("--rules", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="coldstart-") as tmp:
        tmp = Path(tmp)
        broker = Broker(tmp / "broker")
        broker.start()
        watch = None
        try:
            conf = write_site(tmp, broker.port, args.sensors, args.rules)
            check = time_check(conf, args.runs)
            watch = StatusWatch(broker.port, "safehouse/coldstart/status")
            r_new, o_new = time_start(conf, tmp, broker, watch, args.runs, fresh=True)
            r_old, o_old = time_start(conf, tmp, broker, watch, args.runs, fresh=False)
        finally:
            if watch:
                watch.close()
            broker.stop()
    print(f"site: {args.sensors} sensors, {args.rules} rules; {args.runs} runs each")
    print(f"the daemon says: {STATUS[0] if STATUS else '?'}")
    print(f"--check                          {fmt(check)}")
    print(f"first start: exec -> READY=1     {fmt(r_new)}")
    print(f"first start: exec -> sirens ready {fmt(o_new)}")
    print(f"restart:     exec -> READY=1     {fmt(r_old)}")
    print(f"restart:     exec -> sirens ready {fmt(o_old)}")
    print(json.dumps({"check_ms": check, "first_ready_ms": r_new, "first_online_ms": o_new,
                      "restart_ready_ms": r_old, "restart_online_ms": o_old}))
    # The table at the top of README.md: only the size is its row.
    if (args.sensors, args.rules) == (1000, 2000):
        med = statistics.median
        subprocess.run([sys.executable, str(ROOT / "tests" / "bench" / "figures.py"), "record",
                        "coldstart", "--build-of", SAFEHOUSED, "--note", f"{args.runs} runs",
                        f"check_ms={med(check):.1f}", f"check_worst_ms={max(check):.1f}",
                        f"online_ms={med(o_new):.1f}", f"online_worst_ms={max(o_new):.1f}",
                        f"ready_ms={med(r_new):.1f}", f"restart_online_ms={med(o_old):.1f}",
                        f"runs={args.runs}"], check=False)
    else:
        print("figures: not recorded (the README's row is 1,000 sensors and 2,000 rules)",
              file=sys.stderr)


if __name__ == "__main__":
    main()
