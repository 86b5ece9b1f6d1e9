"""Alerts benchmark (issue 11): alarm -> upstream latency, outbox drain after
an outage, and bytes written to the SD card per day. Run by alerts.sh; see
README.md there for what each figure measures. Prints figures, never fails
because of a number.

    alerts.py [--latency N] [--drain N] [--outage-s S] [--sd-minutes M]
              [--sd-doors N] [--sms N] [--only latency,drain,sd,sms]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "blackbox"))

import paho.mqtt.client as paho  # noqa: E402

from helpers import Broker, MqttProbe, Site, wait_until  # noqa: E402

SMOKE = json.dumps({"smoke": True, "battery": 95})
STEADY = False
SD_CONFIG = {}  # --sd-config: merged into the sd house's config
RULES = """rule "smoke raises the fire alarm"
when smoke becomes detected
then
  alarm fire
  siren on fire
  alert militia
end
"""


def rooms(site, n, prefix="room"):
    site.config["zones"] = [{"id": f"{prefix}-{i:04d}", "name": f"P {i:04d}", "floor": 1,
                             "kind": "room"} for i in range(n)]
    site.config["sensors"] = [
        {"id": f"smoke-{i:04d}", "kind": "smoke", "zone": f"{prefix}-{i:04d}",
         "mqtt": {"topic": f"z2m/smoke_{i:04d}", "format": "zigbee2mqtt"}} for i in range(n)]
    site.config["outputs"][0]["zone"] = f"{prefix}-0000"
    site.config["contacts"] = [{"id": "militia", "via": "upstream"}]
    site.rules = {"site.rules": RULES}


class Receiver:
    """The militia's subscriber on the upstream broker; stamps each message
    with time.perf_counter() as it is read (paho's network thread)."""

    def __init__(self, port, client_id, clean=True):
        self.got = []  # (t, topic, payload dict)
        self.cond = threading.Condition()
        self.c = paho.Client(client_id=client_id, clean_session=clean)
        self.c.max_inflight_messages_set(1000)
        self.subscribed = threading.Event()
        self.c.on_connect = lambda c, u, f, rc: c.subscribe("safehouse/#", 1)
        self.c.on_subscribe = lambda c, u, m, q: self.subscribed.set()
        self.c.on_message = self._msg
        self.c.connect("127.0.0.1", port, 30)
        self.c.loop_start()
        self.subscribed.wait(10)

    def _msg(self, c, u, m):
        t = time.perf_counter()
        if not (m.topic.endswith("/alarm") or m.topic.endswith("/alert")):
            return
        with self.cond:
            self.got.append((t, m.topic, json.loads(m.payload)))
            self.cond.notify_all()

    def wait(self, pred, timeout=30):
        with self.cond:
            end = time.monotonic() + timeout
            while True:
                for g in self.got:
                    if pred(g):
                        return g
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def new_site(tmp, name):
    local = Broker(tmp / f"{name}-local").start()
    probe = MqttProbe(local.port, topics=()).connect()
    site = Site(tmp / f"{name}-site", local, probe)
    return local, probe, site


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))]


def bench_latency(tmp, n):
    local, probe, site = new_site(tmp, "lat")
    up = Broker(tmp / "lat-up").start()
    rooms(site, n)
    site.config["upstream"] = {"host": "127.0.0.1", "port": up.port}
    rx = Receiver(up.port, "lat-rx")
    try:
        site.start(upstream_local=False, sensors_online=False)
        wait_until(lambda: site.status()["mqtt"]["upstream"], what="upstream link")
        lat = []
        lost = 0
        for i in range(n):
            sid = f"smoke-{i:04d}"
            t0 = time.perf_counter()
            probe.client.publish(f"z2m/smoke_{i:04d}", SMOKE, qos=1)
            g = rx.wait(lambda g, sid=sid: g[1].endswith("/alarm") and g[2].get("sensor") == sid
                        and g[2].get("state") == "raised", timeout=5)
            if g is None:
                lost += 1
            else:
                lat.append((g[0] - t0) * 1e6)
            time.sleep(0.02)
        print(f"latency  report -> alarm at the upstream subscriber: {len(lat)} alarms, "
              f"{lost} lost, p50 {pct(lat, 50) / 1000:.2f} ms, p99 {pct(lat, 99) / 1000:.2f} ms, "
              f"max {max(lat) / 1000:.2f} ms, mean {statistics.mean(lat) / 1000:.2f} ms")
        # The daemon's own figure (status --json, upstream.h): from queueing
        # the raised row to the broker's PUBACK, over its last 256 alarms.
        wait_until(lambda: site.status()["outbox_pending"] == 0, what="the outbox drained")
        d = site.status()["latency"]["alarm_to_puback_ms"]
        print(f"latency  alarm raised -> PUBACK (daemon, last {d['n']} of {d['total']}): "
              f"p50 {d['p50']:.2f} ms, p99 {d['p99']:.2f} ms, max {d['max']:.2f} ms")
    finally:
        rx.close()
        site.close()
        probe.close()
        up.stop()
        local.stop()


def bench_sms(tmp, n):
    """Report -> first byte of AT+CMGS at the simulated modem: the publish's
    time.monotonic() and the simulator thread's, in this one process."""
    from modem_sim import ModemSim
    local, probe, site = new_site(tmp, "sms")
    sim = ModemSim(tmp, "sim800")
    sim.start()
    rooms(site, n + 1)
    site.config["modem"] = {"device": sim.device, "baud": 115200}
    site.config["contacts"] = [{"id": "militia", "via": "sms", "phone": "+84901234567"}]
    try:
        site.start(upstream_local=False, sensors_online=False)
        wait_until(lambda: site.status()["mqtt"]["local"], what="local link")

        def one(i):
            k = len(sim.cmgs_at)
            t0 = time.monotonic()
            probe.client.publish(f"z2m/smoke_{i:04d}", SMOKE, qos=1)
            try:
                wait_until(lambda: len(sim.cmgs_at) > k, timeout=10, interval=0.001,
                           what="AT+CMGS")
            except AssertionError:
                return None
            return (sim.cmgs_at[k] - t0) * 1e6

        # Readiness: the first alarm's SMS (the modem set up and registered).
        if one(0) is None:
            print("sms      the first SMS never reached the modem", file=sys.stderr)
            return
        lat, lost = [], 0
        for i in range(1, n + 1):
            v = one(i)
            if v is None:
                lost += 1
            else:
                lat.append(v)
            time.sleep(0.02)
        print(f"sms      report -> first byte of AT+CMGS at the modem: {len(lat)} alarms, "
              f"{lost} lost, p50 {pct(lat, 50) / 1000:.2f} ms, p99 {pct(lat, 99) / 1000:.2f} ms, "
              f"max {max(lat) / 1000:.2f} ms, mean {statistics.mean(lat) / 1000:.2f} ms")
    finally:
        site.close()
        sim.stop()
        probe.close()
        local.stop()


def bench_drain(tmp, n_alarms, outage_s):
    local, probe, site = new_site(tmp, "drain")
    up = Broker(tmp / "drain-up", persistence=True).start()
    up.fixed_port = up.port
    rooms(site, n_alarms)
    site.config["upstream"] = {"host": "127.0.0.1", "port": up.port}
    # The militia's persistent session exists before the outage.
    Receiver(up.port, "drain-rx", clean=False).close()
    rx = None
    try:
        assert up.stop() == 0
        site.start(upstream_local=False, sensors_online=False)
        infos = [probe.client.publish(f"z2m/smoke_{i:04d}", SMOKE, qos=1)
                 for i in range(n_alarms)]
        for info in infos:
            info.wait_for_publish(30)
        want = 2 * n_alarms
        wait_until(lambda: site.status()["outbox_pending"] >= want, timeout=120,
                   what=f"{want} messages queued")
        queued = site.status()["outbox_pending"]
        print(f"drain    {queued} messages queued; upstream down for {outage_s:.0f} s ...",
              flush=True)
        time.sleep(outage_s)
        t_up = time.perf_counter()
        up.start()
        # Subscribed before the daemon's reconnect (its backoff is at least
        # a second): the receiver's clock sees the drain as it happens.
        rx = Receiver(up.port, "drain-rx", clean=False)
        # Timed at the daemon: its outbox count, polled (each poll is a
        # safehousectl run, a few ms), from the broker's start.
        t_first = None
        while True:
            left = site.status()["outbox_pending"]
            now = time.perf_counter()
            if t_first is None and left < queued:
                t_first = now
            if left == 0:
                t_done = now
                break
            if now - t_up > 600:
                raise SystemExit("drain: not drained in 10 minutes")
        seqs = set()

        def all_in():
            with rx.cond:
                seqs.update(g[2]["seq"] for g in rx.got)
            return len(seqs) >= queued

        wait_until(all_in, timeout=120, interval=0.05, what="every queued message upstream")
        with rx.cond:
            ts = sorted(g[0] for g in rx.got)
        print(f"drain    broker up -> first message at the militia {ts[0] - t_up:.2f} s (the "
              f"daemon's reconnect backoff); {len(seqs)} messages from first to last in "
              f"{ts[-1] - ts[0]:.3f} s = {len(seqs) / max(ts[-1] - ts[0], 1e-6):.0f} msg/s; "
              f"broker up -> outbox empty (polled) {t_done - t_up:.2f} s")
    finally:
        if rx:
            rx.close()
        site.close()
        probe.close()
        if up.proc:
            up.stop()
        local.stop()


def io_of(pid):
    out = {}
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        k, v = line.split(":")
        out[k] = int(v)
    return out


def files_size(site):
    return sum(os.path.getsize(p) for p in Path(site.db_path).parent.glob("safehouse.db*"))


def sd_house(site):
    """A typical 50-sensor house: 20 smoke, 6 heat, 4 gas, 16 doors, 4
    panic buttons, all zigbee2mqtt, in 10 rooms."""
    kinds = ["smoke"] * 20 + ["heat"] * 6 + ["gas"] * 4 + ["door"] * 16 + ["panic"] * 4
    site.config["zones"] = [{"id": f"r{i}", "name": f"Phòng {i}", "floor": 1, "kind": "room"}
                            for i in range(10)]
    site.config["sensors"] = [
        {"id": f"{k}-{i:02d}", "kind": k, "zone": f"r{i % 10}",
         "mqtt": {"topic": f"z2m/{k}_{i:02d}", "format": "zigbee2mqtt"}}
        for i, k in enumerate(kinds)]
    site.config["outputs"][0]["zone"] = "r0"
    site.config["contacts"] = [{"id": "militia", "via": "upstream"}]
    site.rules = {"site.rules": RULES}
    site.config.update(SD_CONFIG)
    return kinds


def payload(kind, door_open, step):
    base = {"battery": 90, "linkquality": 120 + step % 30, "voltage": 2900}
    if kind == "smoke":
        base.update(smoke=False, battery_low=False, tamper=False)
    elif kind == "heat":
        # A new value at every report (0.1 degree steps), as a Tuya or
        # Aqara sensor sends; --sd-steady: always the same.
        base.update(temperature=27.0 if STEADY else round(27 + (step % 20) / 10, 1))
    elif kind == "gas":
        base.update(gas=False)
    elif kind == "door":
        base.update(contact=not door_open)
    elif kind == "panic":
        pass
    return json.dumps(base)


def report_round(probe, kinds, door_state, step, period, stop_at):
    """Every sensor once, spread over period seconds (less if stop_at comes)."""
    start = time.monotonic()
    n = 0
    for i, k in enumerate(kinds):
        if time.monotonic() >= stop_at:
            break
        probe.client.publish(f"z2m/{k}_{i:02d}", payload(k, door_state.get(i), step), qos=0)
        n += 1
        time.sleep(max(0.0, min(stop_at, start + period * (i + 1) / len(kinds))
                       - time.monotonic()))
    return n


def my_write_bytes():
    return io_of("self")["write_bytes"]


def checkpoint(site):
    """Checkpoint the WAL from this process (PASSIVE: it never waits for
    the daemon's open batch) and return what that wrote: the pages the
    daemon's own autocheckpoint would write back into safehouse.db, counted
    in our /proc/self/io, not the daemon's."""
    import sqlite3
    w0 = my_write_bytes()
    db = sqlite3.connect(site.db_path, timeout=10)
    try:
        busy, frames, done = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        db.close()
    return my_write_bytes() - w0, frames, done


class Reporter:
    """Every sensor once a minute, each at its own second of the minute, the
    schedule carried on from one call to the next (so that a door change
    or an alarm among the reports does not change their rate)."""

    def __init__(self, probe, kinds, door_state):
        self.probe, self.kinds, self.door_state = probe, kinds, door_state
        self.t0 = time.monotonic()
        self.k = 0  # reports sent so far
        self.step = 0  # the minute (each heat sensor a new value a minute)

    def resume(self):
        """After a pause: the next report now, not the missed ones at once."""
        self.t0 = time.monotonic() - 60.0 * self.k / len(self.kinds)

    def run_until(self, stop_at):
        n = len(self.kinds)
        sent = 0
        while True:
            due = self.t0 + 60.0 * self.k / n
            if due >= stop_at:
                time.sleep(max(0.0, stop_at - time.monotonic()))
                return sent
            time.sleep(max(0.0, due - time.monotonic()))
            i = self.k % n
            # The first round (step 0) came before: every minute a new one.
            self.step = 1 + self.k // n
            k = self.kinds[i]
            self.probe.client.publish(f"z2m/{k}_{i:02d}",
                                      payload(k, self.door_state.get(i), self.step), qos=0)
            self.k += 1
            sent += 1


# The daemon commits a batch of nothing but temperatures, battery levels and
# sensor snapshots up to 60 s after its first write (store.c TELEMETRY_MS):
# a window ends with that long without reports, so that what it produced is
# on the disk (and counted) before it closes.
DRAIN_S = 65


def bench_sd(tmp, minutes, door_changes, alarms=2):
    local, probe, site = new_site(tmp, "sd")
    kinds = sd_house(site)
    doors = [i for i, k in enumerate(kinds) if k == "door"]
    door_state = {i: False for i in doors}
    try:
        site.start(upstream_local=False, sensors_online=True)
        pid = site.proc.pid
        span = minutes * 60
        # Start-up writes (schema, the sensors' first rows and first
        # values) are not the daily figure: one round of reports, then let
        # them settle (past the daemon's longest commit delay, 60 s for
        # telemetry alone) and checkpoint, so that the WAL holds nothing
        # of them.
        report_round(probe, kinds, door_state, 0, 5.0, time.monotonic() + 5.0)
        time.sleep(65)
        # Until every start-up frame is back in safehouse.db (a PASSIVE
        # checkpoint leaves those a reader still needs): what is left
        # would be counted in step 2's checkpoint.
        for _ in range(10):
            _, frames, done = checkpoint(site)
            if done >= frames:
                break
            time.sleep(1)
        # 1. Idle for a minute: what time alone writes.
        io0, f0 = io_of(pid), files_size(site)
        time.sleep(60)
        io1, f1 = io_of(pid), files_size(site)
        idle = io1["write_bytes"] - io0["write_bytes"]
        # 2. In real time, every sensor every 60 s: the daemon's commits
        # and its snapshot of the sensors' rows run on their own timers, so
        # speeding the reports up would hide their cost.
        rep = Reporter(probe, kinds, door_state)
        t1 = rep.t0
        reports = rep.run_until(t1 + span)
        dt2 = time.monotonic() - t1
        time.sleep(DRAIN_S)
        site.barrier()
        io2, f2 = io_of(pid), files_size(site)
        loaded = io2["write_bytes"] - io1["write_bytes"]
        # What the checkpoint writes back into safehouse.db for these
        # frames (an upper bound on a day's share: the daemon checkpoints
        # every 1000 frames, and a page written in many of them goes back
        # once).
        ck_bytes, ck_frames, _ = checkpoint(site)
        load_bps = (loaded + ck_bytes) / dt2
        # 3. Door changes (200 a day, one every 7 minutes in real time):
        # door_changes of them, 10 s apart (each its own commit, as in a
        # day) among the same reports at the same rate; a change costs
        # what they add over step 2's rate.
        io_a = io_of(pid)
        rep.resume()
        t0 = time.monotonic()
        for c in range(door_changes):
            d = doors[c % len(doors)]
            door_state[d] = not door_state[d]
            probe.client.publish(f"z2m/door_{d:02d}", payload("door", door_state[d], rep.step),
                                 qos=0)
            rep.run_until(time.monotonic() + 10.0)
        dt = time.monotonic() - t0
        time.sleep(DRAIN_S)
        site.barrier()
        ck3, _, _ = checkpoint(site)
        doors_bytes = io_of(pid)["write_bytes"] - io_a["write_bytes"] + ck3
        per_door = max(0.0, (doors_bytes - load_bps * dt) / door_changes)
        # 4. Alarms (2 a day): smoke, the alarm raised, the smoke gone, a
        # person's reset; each with its events, alarm rows and outbox rows,
        # committed at once.
        io_a = io_of(pid)
        rep.resume()
        t0 = time.monotonic()
        smoke = kinds.index("smoke")
        for _ in range(alarms):
            probe.client.publish(f"z2m/smoke_{smoke:02d}",
                                 json.dumps({"smoke": True, "battery": 90}), qos=0)
            a = wait_until(lambda: site.status()["alarms"], what="the alarm raised")[0]
            rep.run_until(time.monotonic() + 5.0)
            probe.client.publish(f"z2m/smoke_{smoke:02d}",
                                 json.dumps({"smoke": False, "battery": 90}), qos=0)
            rep.run_until(time.monotonic() + 5.0)
            assert site.ctl("reset", str(a["id"])).returncode == 0
            wait_until(lambda: not site.status()["alarms"], what="the alarm reset")
            rep.run_until(time.monotonic() + 10.0)
        dt = time.monotonic() - t0
        time.sleep(DRAIN_S)
        site.barrier()
        ck4, _, _ = checkpoint(site)
        alarm_bytes = io_of(pid)["write_bytes"] - io_a["write_bytes"] + ck4
        per_alarm = max(0.0, (alarm_bytes - load_bps * dt) / alarms)
        per_day = load_bps * 86400 + 200 * per_door + 2 * per_alarm
        print(f"sd       idle 60 s: write_bytes {idle} B = {idle / 60 * 86400 / 1e6:.2f} "
              f"MB/day by time alone; safehouse.db* grew {f1 - f0} B")
        print(f"sd       50 sensors every 60 s, {dt2:.0f} s in real time: {reports} reports, "
              f"write_bytes {loaded} B (wchar {io2['wchar'] - io1['wchar']} B; "
              f"safehouse.db* grew {f2 - f1} B) + checkpoint of its {ck_frames} WAL frames "
              f"{ck_bytes} B = {load_bps * 86400 / 1e6:.2f} MB/day")
        print(f"sd       {door_changes} door changes 10 s apart among the reports: "
              f"write_bytes {doors_bytes} B; about {per_door / 1e3:.1f} kB per change")
        print(f"sd       {alarms} alarms (raised, cleared, reset) among the reports: "
              f"write_bytes {alarm_bytes} B; about {per_alarm / 1e3:.1f} kB per alarm")
        if not STEADY and minutes < 20:
            print("sd       note: the heat sensors' temperatures climb 0.1 degree a minute and "
                  "fall back every 20 minutes, and the daemon records one when it moved by "
                  "its step (1 degree by default): a window under 20 minutes "
                  "(--sd-minutes) misses records and under-counts")
        print(f"sd       estimate for a 50-sensor house ({'steady' if STEADY else 'changing'} "
              f"temperatures, 200 door changes and 2 alarms a day): "
              f"{per_day / 1e6:.2f} MB/day written (goal < 20 MB/day)")
        # The table at the top of tests/bench/README.md (figures.py).
        subprocess.run([sys.executable, str(Path(__file__).with_name("figures.py")), "record",
                        "sd", "--build-of", os.environ.get("SAFEHOUSED", "build/safehoused"),
                        f"{'steady' if STEADY else 'changing'}_mb_day={per_day / 1e6:.2f}"],
                       check=False)
    finally:
        site.close()
        probe.close()
        local.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=int, default=300, help="alarms to time")
    ap.add_argument("--drain", type=int, default=500,
                    help="alarms raised while upstream is down (2 messages each)")
    ap.add_argument("--outage-s", type=float, default=600)
    ap.add_argument("--sd-minutes", type=float, default=3)
    ap.add_argument("--sd-doors", type=int, default=20,
                    help="door changes timed to price one")
    ap.add_argument("--sd-alarms", type=int, default=2, help="alarms timed to price one")
    ap.add_argument("--sd-steady", action="store_true",
                    help="the heat sensors' temperature never changes")
    ap.add_argument("--sms", type=int, default=200, help="alarms to time to the modem")
    ap.add_argument("--sd-config", default="{}",
                    help='JSON merged into the sd house\'s config, e.g. '
                         '\'{"history": {"temperature_step": 1}}\'')
    ap.add_argument("--only", default="latency,sms,drain,sd")
    a = ap.parse_args()
    global STEADY
    STEADY = a.sd_steady
    SD_CONFIG.update(json.loads(a.sd_config))
    only = a.only.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="alerts-bench.", dir=os.environ.get("BENCH_DIR")))
    print(f"bench: work dir {tmp}", file=sys.stderr)
    if "latency" in only:
        bench_latency(tmp, a.latency)
    if "sms" in only:
        bench_sms(tmp, a.sms)
    if "drain" in only:
        bench_drain(tmp, a.drain, a.outage_s)
    if "sd" in only:
        bench_sd(tmp, a.sd_minutes, a.sd_doors, a.sd_alarms)


if __name__ == "__main__":
    main()
