"""A three-node nats-server cluster on loopback: the commune broker of a
city (deploy/nats), for the failover tests.

NatsCluster(workdir, n=3) writes one config per node in the shape of
deploy/nats/node*.conf (server_name, jetstream store_dir, cluster routes to
every node, mqtt with stream_replicas = n, a loopback monitor port), on
free loopback ports, and starts the nodes. start() returns once every
node's /healthz?js-enabled-only=true says ok AND an MQTT QoS 1 subscribe +
publish round trip between two nodes works: the round trip creates the
MQTT streams ($MQTT_sess, $MQTT_msgs, ...), the first thing an MQTT client
needs and the slowest thing to become ready.

kill(i) is kill -9 of node i; start(i) brings it back with its store;
wait_settled() polls until a QoS 1 round trip through the survivors works
again (JetStream elects new stream leaders for some seconds after a node
dies; meanwhile the cluster refuses MQTT connects and subscriptions).
stop() stops every node this object started, also half-started ones.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import paho.mqtt.client as paho

from helpers import read_log, stop_process

NATS_SERVER = os.environ.get("NATS_SERVER", shutil.which("nats-server") or "/usr/sbin/nats-server")
# JetStream's cluster forms in a few seconds; a loaded CI machine may take
# many times that.
START_TIMEOUT = 60.0
# After a kill -9 the survivors elect stream and consumer leaders: the lead
# measured 5-10 s on loopback.
SETTLE_TIMEOUT = 60.0


def _free_ports(n):
    """n distinct loopback ports, free a moment ago (bound together, so the
    kernel cannot hand out one twice)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def mqtt_roundtrip(sub_port, pub_port, timeout=5.0):
    """A QoS 1 subscribe on sub_port, a QoS 1 publish on pub_port, the
    message back: True when all of it worked within timeout. Never raises
    for a broker that is not ready (that is what it probes)."""
    topic = f"probe/{uuid.uuid4().hex}"
    got = threading.Event()
    subacked = threading.Event()
    granted = []
    sub = paho.Client(client_id=f"nc-sub-{uuid.uuid4().hex[:8]}", clean_session=True)
    pub = paho.Client(client_id=f"nc-pub-{uuid.uuid4().hex[:8]}", clean_session=True)

    def on_subscribe(c, u, mid, qos):
        granted.extend(qos)
        subacked.set()

    sub.on_subscribe = on_subscribe
    sub.on_message = lambda c, u, m: got.set()
    deadline = time.monotonic() + timeout
    started = []
    try:
        for c, port in ((sub, sub_port), (pub, pub_port)):
            c.connect("127.0.0.1", port, keepalive=10)
            c.loop_start()
            started.append(c)
        # connect() only opens the socket: wait for the CONNACK.
        while not (sub.is_connected() and pub.is_connected()):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        sub.subscribe(topic, 1)
        if not subacked.wait(max(0.0, deadline - time.monotonic())) or 128 in granted:
            return False
        info = pub.publish(topic, b"ping", qos=1)
        info.wait_for_publish(max(0.1, deadline - time.monotonic()))
        return info.is_published() and got.wait(max(0.0, deadline - time.monotonic()))
    except (OSError, ValueError, RuntimeError):
        return False
    finally:
        for c in started:
            try:
                c.disconnect()
            except Exception:
                pass
            c.loop_stop()


class NatsCluster:
    def __init__(self, workdir, n=3, users=None):
        """users: {name: password} to require a login (the authorization
        block of deploy/nats); None: anonymous, as most tests want."""
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.n = n
        self.users = users
        ports = _free_ports(4 * n)
        self.client_ports = ports[0:n]
        self.cluster_ports = ports[n:2 * n]
        self.mqtt_ports = ports[2 * n:3 * n]
        self.http_ports = ports[3 * n:4 * n]
        self.procs = [None] * n
        self.start_s = None  # how long start() took

    # ---- configs ----

    def conf_text(self, i):
        routes = "\n".join(f'    "nats-route://127.0.0.1:{p}"' for p in self.cluster_ports)
        auth = ""
        if self.users:
            lines = "\n".join(f'    {{ user: "{u}", password: "{p}" }}'
                              for u, p in self.users.items())
            auth = f"authorization {{\n  users: [\n{lines}\n  ]\n}}\n"
        return (f'server_name: "node{i + 1}"\n'
                f'listen: "127.0.0.1:{self.client_ports[i]}"\n'
                f'http: "127.0.0.1:{self.http_ports[i]}"\n'
                f'jetstream {{\n  store_dir: "{self.dir / f"node{i + 1}" / "js"}"\n'
                f'  max_memory_store: 64MB\n  max_file_store: 1GB\n}}\n'
                f'cluster {{\n  name: "commune"\n  listen: "127.0.0.1:{self.cluster_ports[i]}"\n'
                f'  routes: [\n{routes}\n  ]\n}}\n'
                f'mqtt {{\n  listen: "127.0.0.1:{self.mqtt_ports[i]}"\n'
                f'  stream_replicas: {self.n}\n  ack_wait: "5s"\n}}\n' + auth)

    def conf_path(self, i):
        return self.dir / f"node{i + 1}.conf"

    def logfile(self, i):
        return self.dir / f"node{i + 1}.log"

    # ---- processes ----

    def _spawn(self, i):
        d = self.dir / f"node{i + 1}"
        d.mkdir(exist_ok=True)
        self.conf_path(i).write_text(self.conf_text(i))
        log = open(self.logfile(i), "ab")
        try:
            self.procs[i] = subprocess.Popen([NATS_SERVER, "-c", str(self.conf_path(i))],
                                             stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL)
        finally:
            log.close()

    def healthy(self, i):
        """The node's monitor says JetStream is ready."""
        url = f"http://127.0.0.1:{self.http_ports[i]}/healthz?js-enabled-only=true"
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                return r.status == 200 and b'"ok"' in r.read()
        except OSError:
            return False

    def meta_leader(self, i):
        """The JetStream meta leader node i knows of ("" before one is
        elected): MQTT's first connect creates its streams through it, and
        one made before it exists waits out a 4 s timeout."""
        url = f"http://127.0.0.1:{self.http_ports[i]}/jsz"
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                return (json.loads(r.read()).get("meta_cluster") or {}).get("leader", "")
        except (OSError, ValueError):
            return ""

    def alive(self):
        return [i for i in range(self.n) if self.procs[i] and self.procs[i].poll() is None]

    def _wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while not pred():
            for i in range(self.n):
                p = self.procs[i]
                if p is not None and p.poll() is not None and p.returncode != -signal.SIGKILL:
                    raise RuntimeError(f"nats node{i + 1} exited ({p.returncode}); log:\n"
                                       f"{self.log(i)[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"NATS cluster: timed out after {timeout:.0f}s waiting "
                                     f"for {what}; logs:\n" + self.logs_tail())
            time.sleep(0.1)

    def roundtrip(self, sub=None, pub=None, timeout=3.0):
        """A QoS 1 round trip from a live node (pub) to another (sub)."""
        live = self.alive()
        if not live:
            return False
        sub = live[0] if sub is None else sub
        pub = live[-1] if pub is None else pub
        return mqtt_roundtrip(self.mqtt_ports[sub], self.mqtt_ports[pub], timeout)

    def start(self, i=None):
        """Start every node (i None) or node i again; return once the
        cluster carries MQTT QoS 1 traffic."""
        t0 = time.monotonic()
        try:
            for k in range(self.n) if i is None else [i]:
                self._spawn(k)
            self._wait(lambda: all(self.healthy(k) for k in self.alive()), START_TIMEOUT,
                       "JetStream ready on every node (/healthz)")
            self._wait(lambda: all(self.meta_leader(k) for k in self.alive()), START_TIMEOUT,
                       "a JetStream meta leader known to every node (/jsz)")
            # One patient attempt rather than many short ones: an attempt
            # given up on while the server creates the MQTT streams only
            # makes it start over.
            self._wait(lambda: self.roundtrip(timeout=10.0), START_TIMEOUT,
                       "an MQTT QoS 1 round trip")
        except BaseException:
            self.stop()
            raise
        if i is None:
            self.start_s = time.monotonic() - t0
        return self

    def kill(self, i):
        """kill -9 node i (its store stays, for start(i))."""
        p = self.procs[i]
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()

    def wait_settled(self, timeout=SETTLE_TIMEOUT):
        """After a kill: until a QoS 1 round trip through the survivors works."""
        self._wait(self.roundtrip, timeout, "the survivors to carry MQTT again")

    def stop(self):
        for i, p in enumerate(self.procs):
            stop_process(p)
            self.procs[i] = None

    # ---- for the tests ----

    def node_of_port(self, port):
        """The index of the node whose MQTT port this is, or None."""
        try:
            return self.mqtt_ports.index(int(port))
        except ValueError:
            return None

    def log(self, i):
        return read_log(self.logfile(i))

    def logs_tail(self, n=3000):
        return "\n".join(f"----- node{i + 1} -----\n{self.log(i)[-n:]}" for i in range(self.n))
