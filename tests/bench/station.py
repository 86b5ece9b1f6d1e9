#!/usr/bin/python3
"""Station benchmark (issue 13): alarm published by a gateway -> visible on
an open console (the SSE event received), p50/p99/max, with N simulated
sites sending heartbeats every 60 s and status changes; the station's RSS
and CPU at that load; and, over a ramp of site counts, how many sites one
station holds before the alarm p99 passes 1 s.

Everything is real: a private mosquitto, the safehouse-station binary, its
SQLite file, an HTTP session and the SSE stream. The gateways are simulated
(they speak the upstream feed directly) so that thousands fit on one
machine. Figures only; nothing here asserts a timing."""

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "blackbox"))

from helpers import Broker  # noqa: E402
from station_helpers import GatewaySim, Station, now_rfc3339  # noqa: E402


def proc_stats(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(parts[11]) + int(parts[12])) / ticks
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    return cpu, rss, hwm


def pct(v, p):
    v = sorted(v)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(round(p / 100 * len(v) + 0.5)) - 1))
    return v[k]


class Load(threading.Thread):
    """Heartbeats of n sites spread evenly over each 60 s period (scaled by
    speed), plus a status change of one site in 50 per period."""

    def __init__(self, sim, sites, period_s=60.0):
        super().__init__(daemon=True)
        self.sim, self.sites, self.period = sim, sites, period_s
        self.stop = threading.Event()
        self.sent = 0

    def run(self):
        n = len(self.sites)
        gap = self.period / n
        t = time.monotonic()
        i = 0
        while not self.stop.is_set():
            site = self.sites[i % n]
            self.sim.heartbeat(site, heartbeat_s=60, wait=False)
            if i % 50 == 0:
                self.sim.publish(f"safehouse/{site}/status",
                                 {"site": site, "online": True, "mode": "armed_night",
                                  "active_alarms": 0, "faults": i % 3, "disablements": [],
                                  "at": now_rfc3339()}, retain=True, wait=False)
            self.sent += 1
            i += 1
            t += gap
            d = t - time.monotonic()
            if d > 0:
                time.sleep(d)


def measure(args, nsites, probes):
    with tempfile.TemporaryDirectory(prefix="station-bench-") as tmp:
        broker = Broker(Path(tmp) / "broker")
        broker.start()
        st = Station(Path(tmp) / "station", broker, client_id="bench-station")
        st.config["sites"] = [{"id": f"nt-{i:05d}", "name": f"Nhà trọ {i}",
                               "geo": {"lat": 10.6 + (i % 100) / 1000,
                                       "lon": 106.7 + (i // 100) / 1000}}
                              for i in range(nsites)]
        st.add_user("bench", "officer")
        st.start()
        sim = GatewaySim(broker.port)
        sites = [f"nt-{i:05d}" for i in range(nsites)]
        # Every site announces itself first, as gateways do on connect.
        for s in sites:
            sim.status(s)
        sess = st.session("bench")
        ev = sess.events()
        ev.wait("hello")
        load = Load(sim, sites)
        load.start()
        time.sleep(args.warmup)
        cpu0, _, _ = proc_stats(st.proc.pid)
        t0 = time.monotonic()
        lat = []
        missed = 0
        for k in range(probes):
            site = sites[(k * 7919) % nsites]
            sent = time.monotonic()
            sim.alarm(site, 1000 + k, wait=False)
            try:
                ev.wait("alarm", lambda d, s=site, i=1000 + k: d["site"] == s and d["id"] == i,
                        timeout=10)
                got = [e for e in ev.seen if e[0] == "alarm" and e[1]["site"] == site and
                       e[1]["id"] == 1000 + k][0][2]
                lat.append((got - sent) * 1000)
            except AssertionError:
                missed += 1
            ev.seen.clear()
            time.sleep(args.gap)
        elapsed = time.monotonic() - t0
        cpu1, rss, hwm = proc_stats(st.proc.pid)
        load.stop.set()
        load.join()
        stats = sess.get("/api/stats")
        ev.close()
        sim.close()
        st.close()
        broker.stop()
        return {
            "sites": nsites,
            "msgs_per_s": round(nsites / 60 + nsites / 60 / 50, 1),
            "probes": probes,
            "missed": missed,
            "p50_ms": round(pct(lat, 50), 2),
            "p99_ms": round(pct(lat, 99), 2),
            "max_ms": round(max(lat), 2) if lat else None,
            "cpu_pct": round(100 * (cpu1 - cpu0) / elapsed, 1),
            "rss_mb": round(rss, 1),
            "peak_rss_mb": round(hwm, 1),
            "malformed": stats["malformed"],
            "feed_rows": stats["feed_rows"],
        }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sites", type=int, default=1000)
    ap.add_argument("--probes", type=int, default=200)
    ap.add_argument("--gap", type=float, default=0.1, help="seconds between probe alarms")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--ramp", default="", help="comma-separated site counts, e.g. 1000,5000,20000")
    args = ap.parse_args()
    rows = [measure(args, args.sites, args.probes)]
    for n in [int(x) for x in args.ramp.split(",") if x]:
        rows.append(measure(args, n, max(50, args.probes // 2)))
        if rows[-1]["p99_ms"] > 1000:
            break
    print(f"{'sites':>7} {'msg/s':>7} {'probes':>6} {'missed':>6} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'max ms':>8} {'CPU %':>6} {'RSS MB':>7} {'peak':>6}")
    for r in rows:
        print(f"{r['sites']:>7} {r['msgs_per_s']:>7} {r['probes']:>6} {r['missed']:>6} "
              f"{r['p50_ms']:>8} {r['p99_ms']:>8} {r['max_ms']:>8} {r['cpu_pct']:>6} "
              f"{r['rss_mb']:>7} {r['peak_rss_mb']:>6}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
