#!/usr/bin/python3
"""City-scale benchmark (issue 14): a three-node NATS cluster (MQTT over
JetStream, streams replicated three times), one PostgreSQL, one
safehouse-station on it, and a fleet of simulated gateways (N sites with a
heartbeat every 60 s, over a few MQTT links each like safehoused's upstream)
plus a steady rate of alarms.

Prints: alarm handed to a gateway's link -> the alarm event on an open
console (SSE), p50/p99/max; the station's CPU and RSS; PostgreSQL feed rows
per second (steady and for a burst sent as fast as the fleet can); and,
after a SIGKILL of the broker node that carries most links, the time until
the last affected gateway link is connected again and until its backlog is
acknowledged by the cluster, and whether any alarm went missing.

Everything is real except the gateways (simulated, so that thousands fit
on one machine). Figures only; nothing here asserts a timing."""

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "blackbox"))
sys.path.insert(0, str(ROOT / "tests" / "bench"))

from fleet import Fleet  # noqa: E402
from nats_cluster import NatsCluster  # noqa: E402
from pg_server import PgServer  # noqa: E402
from station import pct, proc_stats  # noqa: E402
from test_station_pg import PgStation  # noqa: E402


class Alarms(threading.Thread):
    """`rate` new alarms per second, round robin over the sites."""

    def __init__(self, fleet, rate, first_id=1):
        super().__init__(daemon=True)
        self.fleet, self.rate, self.next_id = fleet, rate, first_id
        self.stop = threading.Event()
        self.sent = []  # (site, id)

    def run(self):
        gap = 1.0 / self.rate
        t = time.monotonic()
        n = len(self.fleet.sites)
        while not self.stop.is_set():
            site = self.fleet.sites[(self.next_id * 7919) % n]
            self.fleet.alarm(site, self.next_id)
            self.sent.append((site, self.next_id))
            self.next_id += 1
            t += gap
            d = t - time.monotonic()
            if d > 0:
                time.sleep(d)


def feed_rows(pg):
    return int(pg.psql("SELECT count(*) FROM feed"))


def latencies(fleet, ev, refs):
    got = {}
    for e, d, t in ev.seen:
        if e == "alarm":
            got.setdefault((d["site"], d["id"]), t)
    lat = [(got[r] - fleet.submitted_at[r]) * 1000 for r in refs if r in got]
    return lat, len(refs) - len(lat)


def drain(ev, until):
    while time.monotonic() < until:
        try:
            ev.wait("alarm", lambda d: False, timeout=min(0.5, until - time.monotonic()))
        except AssertionError:
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sites", type=int, default=10000)
    ap.add_argument("--links", type=int, default=100, help="MQTT connections of the fleet")
    ap.add_argument("--rate", type=float, default=50, help="alarms per second")
    ap.add_argument("--seconds", type=float, default=30, help="steady-state measurement")
    ap.add_argument("--burst", type=int, default=5000, help="alarms sent as fast as possible")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp:
        tmp = Path(tmp)
        cluster = NatsCluster(tmp / "nats")
        st = fleet = ev = None
        t_start = time.monotonic()
        cluster.start()
        pg = PgServer(tmp / "pg")
        t_parts = time.monotonic() - t_start
        try:
            st = PgStation(tmp / "station", SimpleNamespace(port=cluster.mqtt_ports[0]),
                           pg.url, client_id="bench-station")
            b = st.config["broker"]
            b.pop("host", None)
            b.pop("port", None)
            b["hosts"] = [f"127.0.0.1:{p}" for p in cluster.mqtt_ports]
            st.add_user("bench", "officer")
            st.start()
            fleet = Fleet(cluster.mqtt_ports, args.sites, args.links, heartbeat_every=60.0,
                          heartbeat_s=60, tag="bench")
            fleet.start()
            sess = st.session("bench")
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and fleet.pending():
                time.sleep(0.2)
            # Every house's first status in (each is a "site" event on an
            # open stream: 10,000 of them at once would overflow the
            # stream's bound, as it would a real console's, which then
            # reconnects).
            while time.monotonic() < deadline and \
                    sess.get("/api/sites?filter=online")["counts"]["online"] < args.sites:
                time.sleep(0.5)
            ev = sess.events()
            ev.wait("hello")

            # Steady state: heartbeats of every site plus `rate` alarms/s.
            alarms = Alarms(fleet, args.rate)
            cpu0, _, _ = proc_stats(st.proc.pid)
            rows0 = feed_rows(pg)
            t0 = time.monotonic()
            alarms.start()
            drain(ev, t0 + args.seconds)
            alarms.stop.set()
            alarms.join()
            elapsed = time.monotonic() - t0
            cpu1, rss, hwm = proc_stats(st.proc.pid)
            rows1 = feed_rows(pg)
            drain(ev, time.monotonic() + 3)
            lat, missed = latencies(fleet, ev, list(alarms.sent))
            steady = {
                "sites": args.sites, "links": args.links,
                "msgs_per_s": round(args.sites / 60 + args.rate, 1),
                "alarms": len(alarms.sent), "missed": missed,
                "p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2),
                "max_ms": round(max(lat), 2) if lat else None,
                "station_cpu_pct": round(100 * (cpu1 - cpu0) / elapsed, 1),
                "station_rss_mb": round(rss, 1), "station_peak_rss_mb": round(hwm, 1),
                "pg_rows_per_s": round((rows1 - rows0) / elapsed, 1),
            }
            ev.seen.clear()

            # Burst: as fast as the fleet can hand them over.
            first = alarms.next_id
            rows0 = feed_rows(pg)
            t0 = time.monotonic()
            for k in range(args.burst):
                fleet.alarm(fleet.sites[(k * 31) % args.sites], first + k)
            want = rows0 + args.burst
            while feed_rows(pg) < want and time.monotonic() - t0 < 300:
                time.sleep(0.05)
            burst_s = time.monotonic() - t0
            burst = {"burst": args.burst, "seconds": round(burst_s, 2),
                     "pg_rows_per_s": round((feed_rows(pg) - rows0) / burst_s, 1)}
            # A console that falls that far behind has its stream closed
            # by the station (web.c's bound per stream) and reconnects, as
            # the page does: a fresh stream for the next phase.
            ev.close()
            ev = sess.events()
            ev.wait("hello")

            # Failover: kill -9 the node that carries most links, under load.
            counts = [sum(1 for lk in fleet.links if lk.port == p) for p in cluster.mqtt_ports]
            node = counts.index(max(counts))
            alarms = Alarms(fleet, args.rate, first_id=first + args.burst)
            alarms.start()
            time.sleep(3)
            killed_at = time.monotonic()
            cluster.kill(node)
            time.sleep(20)
            alarms.stop.set()
            alarms.join()
            deadline = time.monotonic() + 120
            while fleet.pending() and time.monotonic() < deadline:
                time.sleep(0.1)
            conn_s, done_s = fleet.failover_times(killed_at)
            drain(ev, time.monotonic() + 5)
            lat, missed = latencies(fleet, ev, list(alarms.sent))
            failover = {
                "links_on_killed_node": counts[node],
                "reconnect_s": round(conn_s, 3) if conn_s is not None else None,
                "backlog_delivered_s": round(done_s, 3) if done_s is not None else None,
                "alarms": len(alarms.sent), "missed_on_console": missed,
                "p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2),
                "max_ms": round(max(lat), 2) if lat else None,
                "pending_after": fleet.pending(),
            }
            feed_total = feed_rows(pg)
        finally:
            if ev:
                ev.close()
            if fleet:
                fleet.stop()
            if st:
                st.close()
            pg.stop()
            cluster.stop()

    print(f"parts started in {t_parts:.1f} s (3 NATS nodes + PostgreSQL)")
    s = steady
    print(f"steady: {s['sites']} sites over {s['links']} links, {s['msgs_per_s']} msg/s, "
          f"{s['alarms']} alarms ({s['missed']} missed)")
    print(f"  alarm -> console  p50 {s['p50_ms']} ms  p99 {s['p99_ms']} ms  "
          f"max {s['max_ms']} ms")
    print(f"  station CPU {s['station_cpu_pct']} %  RSS {s['station_rss_mb']} MB  "
          f"(peak {s['station_peak_rss_mb']} MB)  PostgreSQL {s['pg_rows_per_s']} rows/s")
    print(f"burst: {burst['burst']} alarms in {burst['seconds']} s -> "
          f"{burst['pg_rows_per_s']} rows/s into PostgreSQL")
    f = failover
    print(f"failover: node with {f['links_on_killed_node']} links killed; last link back "
          f"after {f['reconnect_s']} s, its backlog acknowledged after "
          f"{f['backlog_delivered_s']} s; {f['alarms']} alarms during, "
          f"{f['missed_on_console']} missing on the console; p50 {f['p50_ms']} ms "
          f"p99 {f['p99_ms']} ms max {f['max_ms']} ms; outboxes pending {f['pending_after']}")
    print(f"feed rows at the end: {feed_total}")
    print(json.dumps({"steady": steady, "burst": burst, "failover": failover}))


if __name__ == "__main__":
    main()
