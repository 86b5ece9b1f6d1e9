"""Black-box test helpers: a private mosquitto, an MQTT probe, and a
safehoused instance with its own config, rules, database and socket.

Nothing here knows the daemon's internals: everything goes through the
public contract (MQTT topics and payloads, the control socket through
safehousectl, the config file, signals, the SQLite file).
"""

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as paho

ROOT = Path(__file__).resolve().parents[2]
SAFEHOUSED = os.environ.get("SAFEHOUSED", str(ROOT / "build" / "safehoused"))
SAFEHOUSECTL = os.environ.get("SAFEHOUSECTL", str(ROOT / "build" / "safehousectl"))
MOSQUITTO = os.environ.get("MOSQUITTO", "/usr/sbin/mosquitto")

# Generous: the CI machine is shared and noisy. Never used to judge speed,
# only to stop waiting for something that is not going to happen.
TIMEOUT = float(os.environ.get("SAFEHOUSE_TEST_TIMEOUT", "10"))


def read_log(path):
    """A process's log so far ("" before it wrote one), undecodable bytes
    replaced: for failure messages."""
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


SITE_ID = "test-site"
PREFIX = "safehouse"
ADDRESS = "Số 7, hẻm 3, đường N5, ấp 3, xã Minh Sơn"
GEO = {"lat": 10.6412, "lon": 106.7235}

ALARM_FIELDS = {"site", "id", "seq", "class", "state", "zone", "zone_name", "sensor",
                "rule", "message", "by", "address", "geo", "at"}
ALERT_FIELDS = {"site", "id", "seq", "alarm", "to", "priority", "class", "zone",
                "zone_name", "message", "address", "geo", "at"}
AT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
DIAG_RE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<msg>.+)$")

REJECT_REASONS = ("too_large", "not_json", "not_object", "too_deep", "bad_type",
                  "no_fields", "bad_value", "unknown_topic")

# The rules the tests run with, written out so that the tests do not depend
# on the wording of the shipped model.
DEFAULT_RULES = """\
# Black-box test rules.
rule "smoke raises the fire alarm"
when smoke becomes detected
then
  alarm fire
  siren on fire
  alert militia owner
end

rule "kitchen heat is a fire"
when heat above 57 clear below 50
then
  alarm fire
  siren on fire
  alert militia owner
end

rule "gas leak"
when gas becomes detected
then
  alarm gas
  siren on emergency
  alert militia owner
end

rule "panic button pressed"
when panic becomes pressed
then
  alarm panic
  alert militia priority urgent
end

rule "detector tampered"
when any sensor becomes tampered
then
  alarm tamper
end

rule "sensor went offline"
when any sensor becomes offline
then
  fault "sensor offline"
end
"""


def free_port():
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=TIMEOUT, interval=0.05, what="condition"):
    """Poll pred() until it returns something truthy; return that value.
    Raises AssertionError naming `what` when the deadline passes."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # the daemon may not be up yet
            last_exc = e
        if time.monotonic() > deadline:
            msg = f"timed out after {timeout:.0f}s waiting for {what}"
            if last_exc is not None:
                msg += f" (last error: {last_exc!r})"
            raise AssertionError(msg)
        time.sleep(interval)


def stop_process(proc, sig=signal.SIGTERM, timeout=TIMEOUT):
    """Stop a process we started; SIGKILL it when it does not go in time.
    Returns its exit status."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=TIMEOUT)
    return proc.returncode


# --------------------------------------------------------------------------
# mosquitto


class Broker:
    """A private mosquitto on a loopback port. The settings mirror
    deploy/mosquitto/local.conf, minus its message_size_limit, so that an
    oversized payload reaches the daemon (which must reject it itself)."""

    def __init__(self, workdir, port=None, persistence=False, listener_conf=()):
        self.listener_conf = list(listener_conf)  # e.g. TLS settings of the listener
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fixed_port = port
        self.port = port
        self.persistence = persistence
        self.proc = None
        self.logfile = self.dir / "mosquitto.log"

    def _conf(self):
        lines = [
            "set_tcp_nodelay true",
            "allow_anonymous true",
            "max_queued_messages 10000",
            "queue_qos0_messages true",
            "max_inflight_messages 1000",
            f"listener {self.port} 127.0.0.1",
        ] + self.listener_conf
        if self.persistence:
            if os.geteuid() == 0:
                # Run as root, mosquitto drops to user "mosquitto", which
                # cannot write in our private temp directory.
                lines.append("user root")
            lines += ["persistence true", f"persistence_location {self.dir}/",
                      "autosave_interval 1"]
        else:
            lines.append("persistence false")
        conf = self.dir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self):
        for _attempt in range(5):
            if self.fixed_port is None:
                self.port = free_port()
            conf = self._conf()
            log = open(self.logfile, "ab")
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            log.close()
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return self
                except OSError:
                    time.sleep(0.02)
            stop_process(self.proc, signal.SIGKILL)
            if self.fixed_port is not None:
                # The port must be this one (a test restarts a broker on the
                # port the daemon was configured with): wait for it to free.
                time.sleep(0.5)
        raise RuntimeError(f"mosquitto did not start; log:\n{self.log()}")

    def stop(self):
        rc = stop_process(self.proc)
        self.proc = None
        return rc

    def log(self):
        return read_log(self.logfile)


# --------------------------------------------------------------------------
# MQTT probe


class Msg:
    __slots__ = ("topic", "payload", "retain", "qos", "index")

    def __init__(self, topic, payload, retain, qos, index):
        self.topic, self.payload, self.retain, self.qos, self.index = (
            topic, payload, retain, qos, index)

    def json(self):
        return json.loads(self.payload.decode("utf-8"))

    def __repr__(self):
        p = self.payload[:200]
        return f"<{self.topic} {'R ' if self.retain else ''}{p!r}>"


class MqttProbe:
    """One paho client that records every message it sees (subscribed to
    `topics`, '#' by default) and publishes the tests' sensor reports. Our
    own publishes go through the same connection, so they keep their order."""

    def __init__(self, port, topics=("#",), client_id=None, clean_session=True):
        self.port = port
        self.messages = []
        self.cond = threading.Condition()
        self.client_id = client_id or f"bb-{uuid.uuid4().hex[:10]}"
        self.client = paho.Client(client_id=self.client_id, clean_session=clean_session)
        self.client.max_inflight_messages_set(100)
        self.topics = list(topics)
        self._subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda c, u, mid, q: self._subscribed.set()
        self.client.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, rc):
        if rc == 0 and self.topics:
            client.subscribe([(t, 1) for t in self.topics])
        elif rc == 0:
            self._subscribed.set()

    def _on_message(self, client, userdata, m):
        with self.cond:
            self.messages.append(Msg(m.topic, bytes(m.payload), bool(m.retain), m.qos,
                                     len(self.messages)))
            self.cond.notify_all()

    def connect(self):
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                self.client.connect("127.0.0.1", self.port, keepalive=30)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.client.loop_start()
        if not self._subscribed.wait(TIMEOUT):
            raise AssertionError("MQTT probe could not subscribe")
        return self

    def close(self):
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()

    def publish(self, topic, payload, retain=False, qos=1):
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload)
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(TIMEOUT)
        assert info.is_published(), f"publish to {topic} was not acknowledged"

    def mark(self):
        """Index of the next message: pass as `since` to look only at later ones."""
        with self.cond:
            return len(self.messages)

    def select(self, topic=None, since=0, pred=None):
        with self.cond:
            msgs = list(self.messages[since:])
        out = []
        for m in msgs:
            if topic is not None and m.topic != topic:
                continue
            if pred is not None:
                try:
                    if not pred(m):
                        continue
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue
            out.append(m)
        return out

    def wait_for(self, topic=None, pred=None, since=0, timeout=TIMEOUT, count=1, what=None):
        """Wait until `count` messages on topic matching pred arrived after
        index `since`; return them."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = self.select(topic, since, pred)
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = self.select(None, since)
                    raise AssertionError(
                        f"timed out after {timeout:.0f}s waiting for {what or topic}; "
                        f"messages seen since: {seen[-30:]!r}")
                self.cond.wait(min(left, 0.2))

    def roundtrip(self):
        """Publish to a private topic and wait to see it back: everything the
        broker had queued for us before now has been delivered."""
        topic = f"test/ping/{uuid.uuid4().hex}"
        m = self.mark()
        self.client.subscribe(topic, 1)
        self.publish(topic, b"ping")
        self.wait_for(topic, since=m, what="MQTT round trip")


# --------------------------------------------------------------------------
# the site under test


def base_config(mqtt_port):
    """A small boarding house: a hall, two rooms and a kitchen."""
    return {
        "site": {
            "id": SITE_ID,
            "name": "Nhà trọ thử nghiệm",
            "address": ADDRESS,
            "phone": "+84909000111",
            "geo": dict(GEO),
        },
        "database": "safehouse.db",
        "control_socket": "control.sock",
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port},
        "zones": [
            {"id": "hall", "name": "Sảnh tầng trệt", "floor": 1, "kind": "corridor"},
            {"id": "kitchen", "name": "Bếp chung", "floor": 1, "kind": "kitchen"},
            {"id": "room-101", "name": "Phòng 101", "floor": 1, "kind": "room"},
            {"id": "room-102", "name": "Phòng 102", "floor": 1, "kind": "room"},
        ],
        "sensors": [
            {"id": "smoke-101", "name": "Báo khói phòng 101", "kind": "smoke",
             "zone": "room-101",
             "mqtt": {"topic": "zigbee2mqtt/smoke_101", "format": "zigbee2mqtt"}},
            {"id": "smoke-102", "name": "Báo khói phòng 102", "kind": "smoke",
             "zone": "room-102",
             "mqtt": {"topic": "zigbee2mqtt/smoke_102", "format": "zigbee2mqtt"}},
            {"id": "heat-kitchen", "name": "Báo nhiệt bếp", "kind": "heat", "zone": "kitchen",
             "mqtt": {"topic": "zigbee2mqtt/heat_kitchen", "format": "zigbee2mqtt"}},
            {"id": "gas-kitchen", "name": "Báo rò gas bếp", "kind": "gas", "zone": "kitchen",
             "mqtt": {"topic": "zigbee2mqtt/gas_kitchen", "format": "zigbee2mqtt"}},
            {"id": "door-main", "name": "Cửa chính", "kind": "door", "zone": "hall",
             "mqtt": {"topic": "zigbee2mqtt/door_main", "format": "zigbee2mqtt"}},
            {"id": "panic-hall", "name": "Nút khẩn cấp sảnh", "kind": "panic", "zone": "hall",
             "mqtt": {"topic": "zigbee2mqtt/panic_hall", "format": "zigbee2mqtt"}},
        ],
        "outputs": [
            {"id": "siren-hall", "kind": "siren", "zone": "hall",
             "mqtt": {"topic": "zigbee2mqtt/siren_hall/set", "format": "zigbee2mqtt"},
             "duration_s": 300},
        ],
        "contacts": [
            {"id": "militia", "via": "upstream"},
            {"id": "owner", "via": "upstream"},
        ],
        "rules": ["rules/*.rules"],
    }


SIREN_TOPIC = "zigbee2mqtt/siren_hall/set"


class Site:
    """One safehoused with a config, rules, database and control socket in
    its own directory, talking to `broker`; `probe` watches that broker.

    Edit .config and .rules before start(). Every process it starts is
    stopped by close() (the fixture calls it, also when the test fails)."""

    def __init__(self, workdir, broker, probe):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.broker = broker
        self.probe = probe
        self.config = base_config(broker.port)
        self.rules = {"site.rules": DEFAULT_RULES}
        self.proc = None
        self.runs = 0
        self.logfile = self.dir / "safehoused.log"
        self.env = None  # the daemon's environment; None: the test's own
        self.wrapper = []  # a command the daemon runs under (test_sandbox.py)

    # -- files --
    @property
    def config_path(self):
        return self.dir / "config.json"

    @property
    def socket_path(self):
        return str(self.dir / self.config.get("control_socket", "control.sock"))

    @property
    def db_path(self):
        return str(self.dir / self.config.get("database", "safehouse.db"))

    def write(self):
        (self.dir / "rules").mkdir(exist_ok=True)
        for name, text in self.rules.items():
            (self.dir / "rules" / name).write_text(text)
        self.config_path.write_text(json.dumps(self.config, ensure_ascii=False, indent=2) + "\n")

    # -- topics --
    def topic(self, kind):
        prefix = PREFIX
        up = self.config.get("upstream")
        if up and up.get("prefix"):
            prefix = up["prefix"]
        return f"{prefix}/{self.config['site']['id']}/{kind}"

    def sensor_topic(self, sensor_id):
        for s in self.config["sensors"]:
            if s["id"] == sensor_id:
                return s["mqtt"]["topic"]
        raise KeyError(sensor_id)

    def zone_name(self, zone_id):
        for z in self.config["zones"]:
            if z["id"] == zone_id:
                return z["name"]
        raise KeyError(zone_id)

    # -- process --
    def start(self, wait=True, upstream_local=True, sensors_online=True):
        """Start the daemon. With wait, return once its control socket
        answers and (upstream_local) it has published a fresh retained
        status with online true."""
        self.write()
        since = self.probe.mark() if self.probe else 0
        if sensors_online and self.probe and self.runs == 0:
            # zigbee2mqtt publishes availability retained; the daemon sees
            # it as soon as it subscribes, which is also our readiness sign.
            for s in self.config["sensors"]:
                self.probe.publish(s["mqtt"]["topic"] + "/availability",
                                   {"state": "online"}, retain=True)
        self.runs += 1
        log = open(self.logfile, "ab")
        log.write(f"\n===== run {self.runs}: {SAFEHOUSED} -c {self.config_path} -f\n".encode())
        log.flush()
        self.proc = subprocess.Popen([*self.wrapper, SAFEHOUSED, "-c", str(self.config_path), "-f"],
                                     stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env)
        log.close()
        if not wait:
            return self
        wait_until(lambda: self.alive_or_raise() and self.ctl("status").returncode == 0,
                   what="the control socket to answer `status`")
        if upstream_local and self.probe:
            self.probe.wait_for(self.topic("status"), since=since,
                                pred=lambda m: m.json().get("online") is True,
                                what="retained status with online:true")
        if sensors_online and self.probe:
            # Best effort: every sensor's retained availability processed.
            total = len(self.config["sensors"])
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                try:
                    if self.status()["sensors"]["online"] >= total:
                        break
                except Exception:
                    pass
                time.sleep(0.05)
        return self

    def alive_or_raise(self):
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(
                f"safehoused is not running (exit status "
                f"{None if self.proc is None else self.proc.returncode})")
        return True

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.alive_or_raise()
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM):
        rc = stop_process(self.proc, sig)
        return rc

    def wait_exit(self, timeout=TIMEOUT):
        return self.proc.wait(timeout=timeout)

    def log(self):
        return read_log(self.logfile)

    def close(self):
        """Stop the daemon if it still runs; return its exit status then
        (None when it had already exited, e.g. a test killed it)."""
        if self.proc is not None and self.proc.poll() is None:
            return stop_process(self.proc)
        return None

    # -- control socket --
    def ctl(self, *args, json_out=False, timeout=TIMEOUT):
        cmd = [SAFEHOUSECTL, "-s", self.socket_path]
        if json_out:
            cmd.append("--json")
        cmd += [str(a) for a in args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def ctl_json(self, *args):
        r = self.ctl(*args, json_out=True)
        assert r.returncode == 0, (f"safehousectl --json {' '.join(map(str, args))} exited "
                                   f"{r.returncode}: {r.stderr.strip()}")
        return json.loads(r.stdout)

    def status(self):
        return self.ctl_json("status")

    def alarms(self, all_=False):
        reply = self.ctl_json("alarms", "--all") if all_ else self.ctl_json("alarms")
        if isinstance(reply, dict):
            reply = reply.get("alarms", [])
        return reply

    def rejected_total(self):
        rej = self.status().get("rejected") or {}
        return sum(v for v in rej.values() if isinstance(v, int))

    # -- sensors --
    def report(self, sensor_id, payload, retain=False):
        self.probe.publish(self.sensor_topic(sensor_id), payload, retain=retain)

    def availability(self, sensor_id, payload, retain=True):
        self.probe.publish(self.sensor_topic(sensor_id) + "/availability", payload,
                           retain=retain)

    # -- upstream feed --
    def alarm_msgs(self, since=0, probe=None, **match):
        probe = probe or self.probe
        return [m.json() for m in probe.select(self.topic("alarm"), since,
                                               pred=_matcher(match))]

    def alert_msgs(self, since=0, probe=None, **match):
        probe = probe or self.probe
        return [m.json() for m in probe.select(self.topic("alert"), since,
                                               pred=_matcher(match))]

    def wait_alarm(self, since=0, probe=None, count=1, **match):
        probe = probe or self.probe
        return [m.json() for m in probe.wait_for(
            self.topic("alarm"), since=since, pred=_matcher(match), count=count,
            what=f"alarm message {match}")]

    def wait_alert(self, since=0, probe=None, count=1, **match):
        probe = probe or self.probe
        return [m.json() for m in probe.wait_for(
            self.topic("alert"), since=since, pred=_matcher(match), count=count,
            what=f"alert message {match}")]

    def siren_cmds(self, since=0, topic=SIREN_TOPIC):
        return [m.json() for m in self.probe.select(topic, since)]

    def wait_siren(self, mode, since=0, topic=SIREN_TOPIC):
        return self.probe.wait_for(
            topic, since=since, pred=lambda m: m.json()["warning"]["mode"] == mode,
            what=f"siren command with mode {mode!r} on {topic}")[0].json()

    def barrier(self):
        """Let in-flight work settle before asserting that something did NOT
        happen: the daemon answers a control request (so it has gone through
        its loop) and the broker has delivered what it had for us."""
        self.alive_or_raise()
        assert self.ctl("status").returncode == 0
        self.probe.roundtrip()
        assert self.ctl("status").returncode == 0
        self.probe.roundtrip()


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer")


def sanitizer_report(log):
    """The first line of a sanitizer report in a daemon log, or None."""
    for line in log.splitlines():
        if any(mark in line for mark in SANITIZER_MARKS):
            return line
    return None


def _matcher(match):
    def pred(m):
        d = m.json()
        return all(d.get(k) == v for k, v in match.items())
    return pred


def find_alarm(alarms, **match):
    for a in alarms:
        if all(a.get(k) == v for k, v in match.items()):
            return a
    return None


def parse_diags(text):
    """The FILE:LINE:COL: message lines of a --check output."""
    out = []
    for line in text.splitlines():
        m = DIAG_RE.match(line.strip())
        if m:
            out.append({"file": m["file"], "line": int(m["line"]), "col": int(m["col"]),
                        "msg": m["msg"], "text": line})
    return out


def errors_only(diags):
    """Drop warnings (the daemon marks them "warning" in the message)."""
    return [d for d in diags if "warning" not in d["msg"].lower()]


def run_check(config_path, timeout=TIMEOUT):
    # errors="replace": a test asserts on the text, not on its encoding
    # (test_check checks the encoding where it matters).
    return subprocess.run([SAFEHOUSED, "-c", str(config_path), "--check"], capture_output=True,
                          text=True, errors="replace", timeout=timeout,
                          stdin=subprocess.DEVNULL)
