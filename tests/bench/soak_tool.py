"""soak.sh's MQTT side: one real alarm round, or a batch of malformed
payloads. Prints one line of KEY=VALUE fields (read with lib.sh's `field`)
and exits 0 when it could talk to the broker, whatever the outcome (the
outcome is in the fields); 1 only when it could not run.

    soak_tool.py alarm PORT SENSOR SOCKET CTL
        SENSOR (soak-NN, on bench/soak_NN) reports smoke; waits up to 10 s
        for the siren command (mode fire on bench/siren/set) and the feed's
        `raised` for that sensor on safehouse/bench/alarm; then reports
        clear, waits for `cleared`, resets the alarm with `CTL -s SOCKET
        reset ID --by soak` and waits for `reset` and the siren's stop, so
        that the next round raises a new alarm and a new siren command.
        ALARM sensor= raised=0|1 siren=0|1 siren_ms= feed_ms= id= reset=0|1
              siren_off=0|1

    soak_tool.py malformed PORT COUNT SOCKET CTL
        COUNT payloads of every kind of tests/blackbox/test_malformed.py, in
        turn, on the bench site's sensor topics, in batches of 200. After
        each batch it waits until the daemon's reject counters (`rejected`
        of `CTL --json status`) have counted what the batch must make them
        count, so the broker never queues enough to drop; at the end, for a
        barrier: a valid battery report on smoke-001 with a new value,
        published after the last batch, shows in `CTL --json sensors` (the
        daemon handles one stream in order), so the daemon has handled all
        of it when this returns.
        MALFORMED sent= counted= (rejects) expected= (at least) seconds=
"""

import json
import os
import subprocess
import sys
import threading
import time

import paho.mqtt.client as paho

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "blackbox"))

SIREN = "bench/siren/set"
FEED = "safehouse/bench/alarm"
WAIT = 10.0
BATCH = 200
# test_malformed.py's topics -> sensors of the bench site (bench_site.py --soak)
TOPICS = {"zigbee2mqtt/smoke_101": "bench/smoke_001", "zigbee2mqtt/heat_kitchen": "bench/heat_soak",
          "zigbee2mqtt/door_main": "bench/door_001", "zigbee2mqtt/panic_hall": "bench/panic_soak"}


class Client:
    """A paho client on its own network thread that keeps what arrives."""

    def __init__(self, port, subs=()):
        self.msgs = []
        self.cond = threading.Condition()
        self.c = paho.Client(client_id="soak-%d-%d" % (os.getpid(), id(self)))
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port, 30)
        self.c.loop_start()
        for topic in subs:
            _, mid = self.c.subscribe(topic, qos=1)
        if subs:
            # A QoS 1 round trip after the SUBSCRIBEs: the broker handles a
            # client's packets in order, so the subscriptions are in place.
            self.c.publish("bench/soak_sync", b"", qos=1).wait_for_publish(WAIT)

    def _on_message(self, _c, _u, m):
        with self.cond:
            self.msgs.append((time.monotonic(), m.topic, m.payload))
            self.cond.notify_all()

    def wait(self, pred, since, timeout=WAIT):
        """The first message after `since` (monotonic) that pred accepts, as
        (time, json), or None after timeout."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, topic, payload in self.msgs:
                    if t < since:
                        continue
                    try:
                        j = json.loads(payload)
                    except ValueError:
                        continue
                    if pred(topic, j):
                        return t, j
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def feed(sensor=None, state=None, alarm_id=None):
    def pred(topic, j):
        return (topic == FEED and isinstance(j, dict) and
                (state is None or j.get("state") == state) and
                (sensor is None or j.get("sensor") == sensor) and
                (alarm_id is None or j.get("id") == alarm_id))
    return pred


def siren(mode):
    def pred(topic, j):
        return (topic == SIREN and isinstance(j, dict) and
                isinstance(j.get("warning"), dict) and j["warning"].get("mode") == mode)
    return pred


def alarm(port, sensor, sock, ctl):
    topic = "bench/" + sensor.replace("-", "_")
    c = Client(port, (SIREN, FEED))
    out = {"sensor": sensor, "raised": 0, "siren": 0, "siren_ms": "-", "feed_ms": "-",
           "id": "-", "reset": 0}
    t0 = time.monotonic()
    c.c.publish(topic, json.dumps({"smoke": True, "battery": 90}), qos=1)
    s = c.wait(siren("fire"), t0)
    if s:
        out["siren"], out["siren_ms"] = 1, "%.1f" % ((s[0] - t0) * 1000)
    r = c.wait(feed(sensor, "raised"), t0)
    if r:
        out["raised"], out["feed_ms"], out["id"] = 1, "%.1f" % ((r[0] - t0) * 1000), r[1].get("id")
    t1 = time.monotonic()
    c.c.publish(topic, json.dumps({"smoke": False, "battery": 90}), qos=1)
    if r:
        # The reset is refused while the detector still reports: wait until
        # the daemon has seen the clear (the feed's `cleared`).
        c.wait(feed(state="cleared", alarm_id=r[1].get("id")), t1)
        t2 = time.monotonic()
        p = subprocess.run([ctl, "-s", sock, "reset", str(r[1].get("id")), "--by", "soak"],
                           capture_output=True, text=True, timeout=WAIT, stdin=subprocess.DEVNULL)
        if p.returncode == 0 and c.wait(feed(state="reset", alarm_id=r[1].get("id")), t2):
            out["reset"] = 1
            # With no alarm left the siren must stop, or the next round's
            # "siren on" would be no change and send nothing.
            out["siren_off"] = 1 if c.wait(siren("stop"), t2) else 0
        elif p.returncode != 0:
            out["reset_error"] = '"%s"' % p.stderr.strip().replace('"', "'").replace(" ", "_")
    c.close()
    print("ALARM " + " ".join("%s=%s" % kv for kv in out.items()), flush=True)


def rejected_total(sock, ctl):
    p = subprocess.run([ctl, "-s", sock, "--json", "status"], capture_output=True, text=True,
                       timeout=WAIT, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        return None
    rej = json.loads(p.stdout).get("rejected") or {}
    return sum(v for v in rej.values() if isinstance(v, int))


def battery_of(sock, ctl, sensor):
    p = subprocess.run([ctl, "-s", sock, "--json", "sensors", "--zone", "floor-2"],
                       capture_output=True, text=True, timeout=WAIT, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        return None
    j = json.loads(p.stdout)
    for o in j.get("sensors", []) if isinstance(j, dict) else j:
        if o.get("id") == sensor:
            return o.get("battery")
    return None


def malformed(port, count, sock, ctl):
    from test_malformed import MALFORMED  # noqa: E402 (the same kinds as the tests)

    c = Client(port)
    start = time.monotonic()
    base = rejected_total(sock, ctl)
    if base is None:
        print("MALFORMED sent=0 counted=0 error=no_status", flush=True)
        return 1
    sent = counted = expect = 0
    kinds = [(TOPICS[t.removesuffix("/availability")] +
              ("/availability" if t.endswith("/availability") else ""), p, must)
             for _name, t, p, must in MALFORMED]
    while sent < count:
        for i in range(min(BATCH, count - sent)):
            topic, payload, must = kinds[(sent + i) % len(kinds)]
            c.c.publish(topic, payload, qos=0)
            expect += 1 if must else 0
        sent += min(BATCH, count - sent)
        end = time.monotonic() + 4 * WAIT
        while time.monotonic() < end:
            now = rejected_total(sock, ctl)
            if now is not None and now - base >= expect:
                break
            time.sleep(0.05)
        else:
            break
    # Some kinds may or may not count (test_malformed.py's False): the
    # barrier says when the daemon is through all of them. Once a round, not
    # once a batch: each barrier is a point change, so a row in the store,
    # and the SQLite page cache filling with those rows would show as growth
    # that is not the payloads'.
    old = battery_of(sock, ctl, "smoke-001")
    level = 51 if old == 50 else 50
    c.c.publish("bench/smoke_001", json.dumps({"battery": level}), qos=1).wait_for_publish(WAIT)
    end = time.monotonic() + 4 * WAIT
    while time.monotonic() < end and battery_of(sock, ctl, "smoke-001") != level:
        time.sleep(0.05)
    counted = (rejected_total(sock, ctl) or base) - base
    c.close()
    print("MALFORMED sent=%d counted=%d expected=%d seconds=%.1f" %
          (sent, counted, expect, time.monotonic() - start), flush=True)
    return 0


def main():
    if len(sys.argv) != 6 or sys.argv[1] not in ("alarm", "malformed"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, port, arg, sock, ctl = sys.argv[1:]
    try:
        if mode == "alarm":
            alarm(int(port), arg, sock, ctl)
            return 0
        return malformed(int(port), int(arg), sock, ctl)
    except (OSError, subprocess.SubprocessError) as e:
        print("soak_tool: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
