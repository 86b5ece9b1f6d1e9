"""A fleet of simulated gateways for the city-scale tests and benchmark
(issue 14): many sites' upstream feeds over a few MQTT connections, each
connection behaving like safehoused's upstream link.

What a real gateway does, and this does too:
 - every QoS 1 message (alarm feed, retained status) stays in an outbox
   until the broker's PUBACK; after a lost link it is sent again, in order
   (so seq order per site is kept), with the same seq;
 - the link is a persistent session (clean session off, a stable client id)
   and fails over to the next broker of its list when the one it is on is
   gone: it tries the next address at once, and backs off only after a
   whole round failed;
 - heartbeats are QoS 0 (a lost one is not sent again: the next comes).

Each link runs on one thread that owns its paho client: publishing, the
PUBACK callback and reconnecting all happen there, so paho's own locks are
never taken from two threads. Other threads hand work over via a queue.
Nothing here knows the station's internals: only the upstream topics."""

import collections
import json
import queue
import threading
import time

import paho.mqtt.client as paho

from station_helpers import now_rfc3339


class FleetLink(threading.Thread):
    def __init__(self, fleet, idx, sites):
        super().__init__(daemon=True, name=f"fleet-link-{idx}")
        self.fleet = fleet
        self.idx = idx
        self.sites = list(sites)
        self.client_id = f"{fleet.tag}-{idx}"
        self.q = queue.Queue()
        self.outbox = collections.OrderedDict()  # key -> (topic, payload, retain)
        self.inflight = {}  # mid -> key
        self.next_key = 0
        self.client = None
        self.port = None  # the port connected to, or None
        self.cur = idx  # spread the links over the brokers
        self.connects = 0
        self.connected_at = []  # monotonic times of each CONNACK
        self.lost_at = []
        self.stopping = threading.Event()
        self.hb_i = 0  # heartbeats sent; they are spread evenly over each period
        self.hb_t0 = None
        self._up = False

    # -- called on other threads ------------------------------------------------
    def submit(self, topic, payload, retain=False, ref=None):
        """Queue one QoS 1 message; ref (e.g. (site, id)) names it in the
        fleet's acked_at times."""
        self.q.put(("pub", topic, payload, retain, ref))

    def pending(self):
        return len(self.outbox) + self.q.qsize()

    # -- the link's own thread ----------------------------------------------------
    def _on_connect(self, client, userdata, flags, rc):
        if rc == 0:
            self._up = True

    def _on_disconnect(self, client, userdata, rc):
        self._up = False

    def _on_publish(self, client, userdata, mid):
        key = self.inflight.pop(mid, None)
        if key is not None:
            item = self.outbox.pop(key, None)
            if item is not None and item[3] is not None:
                self.fleet.acked_at.setdefault(item[3], time.monotonic())

    def _send(self, key):
        topic, payload, retain, _ = self.outbox[key]
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if info.rc == paho.MQTT_ERR_SUCCESS:
            self.inflight[info.mid] = key

    def _connect(self):
        ports = self.fleet.ports
        port = ports[self.cur % len(ports)]
        c = paho.Client(client_id=self.client_id, clean_session=False)
        c.max_inflight_messages_set(0)  # no limit: the outbox is ours
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        self._up = False
        try:
            c.connect("127.0.0.1", port, keepalive=10)
        except OSError:
            return None
        deadline = time.monotonic() + 5
        while not self._up and time.monotonic() < deadline and not self.stopping.is_set():
            if c.loop(timeout=0.05) != paho.MQTT_ERR_SUCCESS:
                break
        if not self._up:
            try:
                c.disconnect()
            except Exception:
                pass
            return None
        self.port = port
        return c

    def _drop(self):
        self.lost_at.append(time.monotonic())
        try:
            self.client.disconnect()
        except Exception:
            pass
        self.client = None
        self.port = None
        self.inflight.clear()
        self.cur += 1

    def run(self):
        failed_round = 0
        while not self.stopping.is_set():
            if self.client is None:
                self.client = self._connect()
                if self.client is None:
                    self.cur += 1
                    failed_round += 1
                    if failed_round >= len(self.fleet.ports):
                        failed_round = 0
                        self.stopping.wait(1.0)
                    continue
                failed_round = 0
                self.connects += 1
                self.connected_at.append(time.monotonic())
                # Everything not yet acknowledged goes again, in order.
                for key in list(self.outbox):
                    self._send(key)
            # Hand-overs from other threads.
            try:
                while True:
                    item = self.q.get_nowait()
                    if item[0] == "pub":
                        key = self.next_key
                        self.next_key += 1
                        self.outbox[key] = item[1:]
                        self._send(key)
            except queue.Empty:
                pass
            now = time.monotonic()
            if self.hb_t0 is None:
                self.hb_t0 = now
            due = int((now - self.hb_t0) / self.fleet.heartbeat_every * len(self.sites)) + 1
            while self.hb_i < due:
                site = self.sites[self.hb_i % len(self.sites)]
                self.hb_i += 1
                if site not in self.fleet.silent:
                    self.client.publish(f"{self.fleet.prefix}/{site}/heartbeat",
                                        self.fleet.heartbeat_payload(site), qos=0)
            rc = self.client.loop(timeout=0.02)
            if rc != paho.MQTT_ERR_SUCCESS or not self._up:
                self._drop()
        if self.client is not None:
            try:
                self.client.disconnect()
                self.client.loop(timeout=0.1)
            except Exception:
                pass


class Fleet:
    """n_sites simulated gateways over n_links connections to the brokers on
    `ports` (each link starts on a different one)."""

    def __init__(self, ports, n_sites, n_links, prefix="safehouse", tag="fleet",
                 heartbeat_every=2.0, heartbeat_s=10, site_fmt="nt-{:05d}"):
        self.ports = list(ports)
        self.prefix = prefix
        self.tag = tag
        self.heartbeat_every = heartbeat_every
        self.heartbeat_s = heartbeat_s
        self.sites = [site_fmt.format(i) for i in range(n_sites)]
        self.silent = set()  # sites whose heartbeats stopped (they "really stopped")
        self.seq = {}
        self.sent = collections.defaultdict(list)  # site -> [(seq, id)] in order
        self.submitted_at = {}  # (site, id) -> monotonic time handed to its link
        self.acked_at = {}  # (site, id) -> monotonic time of the broker's PUBACK
        self.lock = threading.Lock()
        self.links = [FleetLink(self, k, self.sites[k::n_links]) for k in range(n_links)]
        self.link_of = {}
        for link in self.links:
            for s in link.sites:
                self.link_of[s] = link

    def start(self, status=True):
        for link in self.links:
            link.start()
        if status:
            for s in self.sites:
                self.status(s)

    def stop(self):
        for link in self.links:
            link.stopping.set()
        for link in self.links:
            link.join(timeout=5)

    def heartbeat_payload(self, site):
        return json.dumps({"site": site, "uptime_s": 60, "active_alarms": 0, "faults": 0,
                           "outbox_pending": 0, "heartbeat_s": self.heartbeat_s,
                           "log": {"row": 1, "hash": "ab" * 32}, "at": now_rfc3339()})

    def status(self, site):
        msg = {"site": site, "name": f"Nhà trọ {site}", "phone": "+84909000222",
               "address": f"Hẻm {site}", "geo": None, "online": True, "mode": "armed_night",
               "alarms": [], "active_alarms": 0, "faults": 0, "disablements": [],
               "heartbeat_s": self.heartbeat_s, "at": now_rfc3339()}
        self.link_of[site].submit(f"{self.prefix}/{site}/status",
                                  json.dumps(msg, ensure_ascii=False), retain=True)

    def alarm(self, site, alarm_id, cls="fire"):
        """A new alarm of `site` into its link's outbox; returns its seq."""
        with self.lock:
            seq = self.seq.get(site, 0) + 1
            self.seq[site] = seq
            self.sent[site].append((seq, alarm_id))
            self.submitted_at[(site, alarm_id)] = time.monotonic()
        msg = {"site": site, "id": alarm_id, "seq": seq, "class": cls, "state": "raised",
               "zone": "room-101", "zone_name": "Phòng 101", "sensor": "smoke-101",
               "rule": "smoke raises the fire alarm", "message": "Phát hiện khói",
               "by": None, "address": f"Hẻm {site}", "geo": None, "at": now_rfc3339()}
        self.link_of[site].submit(f"{self.prefix}/{site}/alarm",
                                  json.dumps(msg, ensure_ascii=False), ref=(site, alarm_id))
        return seq

    def pending(self):
        return sum(link.pending() for link in self.links)

    def all_connected(self):
        return all(link.port is not None for link in self.links)

    def failover_times(self, killed_at):
        """After a broker node was killed at killed_at (monotonic): for the
        links that lost their connection then, (slowest reconnect, slowest
        backlog delivered) in seconds after the kill: the backlog of a link
        is every alarm of its sites handed over before it reconnected, and
        it is delivered when the broker has acknowledged all of it. None
        when no link was on that node."""
        worst_conn = worst_done = None
        for link in self.links:
            if not any(t >= killed_at for t in link.lost_at):
                continue
            back = [t for t in link.connected_at if t >= killed_at]
            if not back:
                return float("inf"), float("inf")
            r = back[0]
            refs = [ref for ref, t in list(self.submitted_at.items())
                    if t <= r and self.link_of[ref[0]] is link]
            done = max([self.acked_at.get(ref, float("inf")) for ref in refs] or [r])
            worst_conn = max(worst_conn or 0, r - killed_at)
            worst_done = max(worst_done or 0, max(done, r) - killed_at)
        return worst_conn, worst_done

    def total_sent(self):
        with self.lock:
            return sum(len(v) for v in self.sent.values())
