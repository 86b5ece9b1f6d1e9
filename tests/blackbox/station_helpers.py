"""Black-box helpers for safehouse-station: the station process with its
own config and SQLite file, an HTTP client that logs in like the console
page does (cookie + CSRF token), a server-sent event reader, and a small
simulator of many gateways that speaks the upstream feed directly.

Nothing here knows the station's internals: everything goes through its
contract (config file, HTTP API, MQTT topics, the SQLite file)."""

import http.client
import http.cookiejar
import json
import os
import queue
import signal
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import paho.mqtt.client as paho

from helpers import ROOT, TIMEOUT, free_port, read_log, sanitizer_report, stop_process, wait_until

STATION = os.environ.get("SAFEHOUSE_STATION",
                         str(Path(os.environ.get("SAFEHOUSED", str(ROOT / "build" / "safehoused")))
                             .parent / "safehouse-station"))
PASSWORD = "truc-ban-2026"


def require_station():
    """Fail (not skip) the calling test when safehouse-station is not built:
    tests/run.sh builds it, so its absence is a broken setup."""
    if not os.access(STATION, os.X_OK):
        import pytest
        pytest.fail(f"missing executable {STATION}", pytrace=False)


def now_rfc3339(ms=None):
    t = datetime.now(timezone.utc) if ms is None else datetime.fromtimestamp(ms / 1000,
                                                                              timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


class Station:
    """One safehouse-station in its own directory, on `broker`."""

    def __init__(self, workdir, broker, client_id=None):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.broker = broker
        self.port = free_port()  # kept across restarts: clients keep the address
        self.proc = None
        self.runs = 0
        self.logfile = self.dir / "station.log"
        self.tls = None  # (cert, key) paths for HTTPS
        self.env = None  # the station's environment; None: the test's own
        self.wrapper = []  # a command the station runs under (test_sandbox.py)
        self.config = {
            "broker": {"host": "127.0.0.1", "port": broker.port, "prefix": "safehouse",
                       "client_id": client_id or f"station-{os.getpid()}-{id(self) % 100000}"},
            "database": "station.db",
            "http": {"listen": f"127.0.0.1:{self.port}"},
            "sites": [],
            "groups": [],
        }

    @property
    def config_path(self):
        return self.dir / "station.json"

    @property
    def db_path(self):
        return self.dir / "station.db"

    def write(self):
        cfg = json.loads(json.dumps(self.config))
        if not cfg["groups"]:
            del cfg["groups"]
        self.config_path.write_text(json.dumps(cfg, ensure_ascii=False, indent=2) + "\n")

    def run(self, *args, input=None, timeout=TIMEOUT):
        self.write()
        return subprocess.run([STATION, "-c", str(self.config_path), *args], input=input,
                              capture_output=True, text=True, timeout=timeout)

    def add_user(self, name, role="officer", password=PASSWORD):
        r = self.run("users", "add", name, "--role", role, "--password-stdin",
                     input=password + "\n", timeout=60)
        assert r.returncode == 0, f"users add {name}: {r.stderr}"
        return r

    def start(self, wait=True):
        if self.tls:
            self.config["http"]["cert"], self.config["http"]["key"] = map(str, self.tls)
        for attempt in range(5):
            self.write()
            self.runs += 1
            log = open(self.logfile, "ab")
            log.write(f"\n===== run {self.runs}\n".encode())
            log.flush()
            self.proc = subprocess.Popen([*self.wrapper, STATION, "-c", str(self.config_path)],
                                         stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=self.env)
            log.close()
            if not wait:
                return self
            try:
                wait_until(lambda: self.alive_or_raise() and self.healthy(),
                           what="the station's /healthz to say the broker is connected")
                return self
            except AssertionError:
                # Tests run in parallel: another one may have taken the
                # port between free_port() and the bind. Only on a first
                # start: a restart must keep its address.
                if (self.proc.poll() is None or "Address already in use" not in self.log()
                        or self.runs > attempt + 1 or attempt == 4):
                    raise
                self.port = free_port()
                self.config["http"]["listen"] = f"127.0.0.1:{self.port}"
        return self

    @property
    def base(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def healthy(self):
        try:
            code, body, _ = self.request("GET", "/healthz")
        except OSError:
            return False
        return code == 200 and body.get("broker") is True

    def request(self, method, path, body=None, headers=None, cookies=None):
        """One request without a session; returns (status, json, headers)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        ctx = ssl.create_default_context(cafile=str(self.tls[0])) if self.tls else None
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT, context=ctx) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None, r.headers
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw), e.headers
            except ValueError:
                return e.code, raw, e.headers

    def alive_or_raise(self):
        if self.proc is None or self.proc.poll() is not None:
            raise AssertionError(f"safehouse-station is not running (exit status "
                                 f"{None if self.proc is None else self.proc.returncode})")
        return True

    def stop(self, sig=signal.SIGTERM):
        rc = stop_process(self.proc, sig)
        return rc

    def kill(self):
        self.proc.kill()
        self.proc.wait(TIMEOUT)

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            return stop_process(self.proc)
        return None

    def log(self):
        return read_log(self.logfile)

    def finish(self, secret=None):
        """A fixture's teardown: stop, print the log's tail, and fail the
        test on a sanitizer report, a secret in the log or an unclean
        exit on SIGTERM."""
        import pytest
        rc = self.close()
        log = self.log()
        print(f"----- station log -----\n{log[-20000:]}")
        report = sanitizer_report(log)
        if report:
            pytest.fail(f"sanitizer report in the station log: {report}", pytrace=False)
        assert secret is None or secret not in log, "the database password is in the station's log"
        if rc not in (None, 0):
            pytest.fail(f"safehouse-station exited with status {rc} on SIGTERM", pytrace=False)

    def feed_rows(self, site=None):
        import sqlite3
        con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        try:
            if site:
                return con.execute("SELECT count(*) FROM feed WHERE site=?",
                                   (site,)).fetchone()[0]
            return con.execute("SELECT count(*) FROM feed").fetchone()[0]
        finally:
            con.close()

    def session(self, user, password=PASSWORD):
        return Session(self, user, password)


class Session:
    """A logged-in console user: keeps the cookie and the CSRF token."""

    def __init__(self, station, user, password=PASSWORD):
        self.st = station
        self.jar = http.cookiejar.CookieJar()
        handlers = [urllib.request.HTTPCookieProcessor(self.jar)]
        if station.tls:
            handlers.append(urllib.request.HTTPSHandler(
                context=ssl.create_default_context(cafile=str(station.tls[0]))))
        self.opener = urllib.request.build_opener(*handlers)
        self.csrf = None
        self.login_headers = None
        code, body, hdrs = self.call("POST", "/api/login", {"user": user, "password": password},
                                     csrf=False)
        self.login_status, self.login_body = code, body
        if code == 200:
            self.csrf = body["csrf"]
            self.login_headers = hdrs

    def call(self, method, path, body=None, csrf=True, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.st.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if csrf and self.csrf and method == "POST":
            req.add_header("X-CSRF-Token", self.csrf)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with self.opener.open(req, timeout=TIMEOUT) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None, r.headers
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw), e.headers
            except ValueError:
                return e.code, raw, e.headers

    def get(self, path):
        code, body, _ = self.call("GET", path)
        assert code == 200, f"GET {path}: {code} {body}"
        return body

    def cookie_header(self):
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def alarms(self):
        return self.get("/api/alarms")["alarms"]

    def find_alarm(self, **match):
        for a in self.alarms():
            if all(a.get(k) == v for k, v in match.items()):
                return a
        return None

    def events(self):
        return EventStream(self)


class EventStream:
    """The console's server-sent event stream, read on a thread."""

    def __init__(self, session):
        st = session.st
        self.q = queue.Queue()
        self.seen = []
        if st.tls:
            ctx = ssl.create_default_context(cafile=str(st.tls[0]))
            self.conn = http.client.HTTPSConnection("127.0.0.1", st.port, timeout=60,
                                                    context=ctx)
        else:
            self.conn = http.client.HTTPConnection("127.0.0.1", st.port, timeout=60)
        self.conn.request("GET", "/api/events", headers={"Cookie": session.cookie_header(),
                                                         "Accept": "text/event-stream"})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.thread = threading.Thread(target=self._read, daemon=True)
        if self.status == 200:
            self.thread.start()

    def _read(self):
        event, data = None, []
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    break
                line = line.decode("utf-8").rstrip("\r\n")
                if line == "":
                    if data:
                        self.q.put((event or "message", json.loads("\n".join(data)),
                                    time.monotonic()))
                    event, data = None, []
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())
        except (OSError, ValueError, http.client.HTTPException):
            pass
        self.q.put(None)

    def wait(self, event, pred=lambda d: True, timeout=TIMEOUT, what=None):
        for e in self.seen:
            if e[0] == event and pred(e[1]):
                return e[1]
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {event} event {what or ''} within {timeout:.0f}s; "
                                     f"saw {[e[0] for e in self.seen][-20:]}")
            try:
                e = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if e is None:
                raise AssertionError("the event stream ended")
            self.seen.append(e)
            if e[0] == event and pred(e[1]):
                return e[1]

    def close(self):
        try:
            self.conn.sock.shutdown(2)
        except (OSError, AttributeError):
            pass
        self.conn.close()


class GatewaySim:
    """Many gateways' upstream feeds from one MQTT connection: alarm
    messages with per-site seq, status (retained, with an offline will
    per site when asked), heartbeats."""

    def __init__(self, port, prefix="safehouse"):
        self.prefix = prefix
        self.seq = {}
        self.client = paho.Client(client_id=f"gwsim-{os.getpid()}-{id(self) % 100000}",
                                  clean_session=True)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic, payload, qos=1, retain=False, wait=True):
        if not isinstance(payload, (bytes, str)):
            payload = json.dumps(payload, ensure_ascii=False)
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if wait:
            info.wait_for_publish(TIMEOUT)
        return info

    def next_seq(self, site):
        self.seq[site] = self.seq.get(site, 0) + 1
        return self.seq[site]

    def alarm(self, site, alarm_id, cls="fire", state="raised", zone="room-101",
              zone_name="Phòng 101", seq=None, wait=True, **extra):
        msg = {"site": site, "id": alarm_id, "seq": seq or self.next_seq(site), "class": cls,
               "state": state, "zone": zone, "zone_name": zone_name, "sensor": "smoke-101",
               "rule": "smoke raises the fire alarm", "message": "Phát hiện khói",
               "by": None, "address": f"Số {alarm_id}, đường N5",
               "geo": {"lat": 10.64, "lon": 106.72}, "at": now_rfc3339()}
        msg.update(extra)
        self.publish(f"{self.prefix}/{site}/alarm", msg, wait=wait)
        return msg

    def heartbeat(self, site, heartbeat_s=60, wait=True):
        self.publish(f"{self.prefix}/{site}/heartbeat",
                     {"uptime_s": 5, "active_alarms": 0, "faults": 0, "outbox_pending": 0,
                      "log": {"row": 3, "hash": "ab" * 32}, "site": site,
                      "heartbeat_s": heartbeat_s, "at": now_rfc3339()}, qos=0, wait=wait)

    def status(self, site, online=True, retain=True, **extra):
        if online:
            msg = {"site": site, "name": f"Nhà trọ {site}", "phone": "+84909000222",
                   "address": f"Hẻm {site}", "geo": None, "online": True, "mode": "disarmed",
                   "alarms": [], "active_alarms": 0, "faults": 0, "disablements": [],
                   "at": now_rfc3339()}
            msg.update(extra)
        else:
            msg = {"site": site, "online": False}
        self.publish(f"{self.prefix}/{site}/status", msg, retain=retain)
        return msg
