"""The owner's panel (config "web"): the page's API against a real
safehoused and a real mosquitto. The view is public, operations need a
log-in with a user's code (the same codes and lock-out as over MQTT) and go
through the control protocol's handlers, so the panel, safehousectl and the
upstream feed agree."""

import hashlib
import http.client
import http.cookiejar
import json
import os
import re
import ssl
import stat
import threading
import time
import urllib.error
import urllib.request

import pytest

from helpers import TIMEOUT, base_config, free_port, parse_diags, run_check, wait_until

SMOKE = {"smoke": True, "battery": 97, "battery_low": False, "tamper": False,
         "linkquality": 132, "voltage": 3000, "test": False}
CLEAR = dict(SMOKE, smoke=False)
OWNER_PIN = "482916"
TENANT_PIN = "731045"


def add_user(site, name, role, pin):
    import subprocess
    from helpers import SAFEHOUSECTL
    r = subprocess.run([SAFEHOUSECTL, "-s", site.socket_path, "users", "add", name, "--role",
                        role, "--pin-stdin"], input=pin + "\n", capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


class Panel:
    """A browser's side of the panel: cookies and the CSRF token."""

    def __init__(self, base, cafile=None):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        handlers = [urllib.request.HTTPCookieProcessor(self.jar)]
        if cafile:
            ctx = ssl.create_default_context(cafile=cafile)
            ctx.check_hostname = False
            handlers.append(urllib.request.HTTPSHandler(context=ctx))
        self.opener = urllib.request.build_opener(*handlers)
        self.csrf = None

    def call(self, method, path, body=None, csrf=True, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode()
                                            if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if csrf and self.csrf and method == "POST":
            req.add_header("X-CSRF-Token", self.csrf)
        try:
            with self.opener.open(req, timeout=TIMEOUT) as r:
                b = r.read()
                return r.status, json.loads(b) if b else None
        except urllib.error.HTTPError as e:
            b = e.read()
            try:
                return e.code, json.loads(b)
            except ValueError:
                return e.code, b

    def get(self, path):
        code, body = self.call("GET", path)
        assert code == 200, f"GET {path}: {code} {body}"
        return body

    def login(self, pin):
        code, body = self.call("POST", "/api/login", {"pin": pin}, csrf=False)
        if code == 200:
            self.csrf = body["csrf"]
        return code, body

    def cmd(self, **req):
        return self.call("POST", "/api/cmd", req)


class Stream:
    """GET /api/stream read on a thread: every event as (name, data, t)."""

    def __init__(self, port):
        self.events = []
        self.closed = threading.Event()
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.conn.request("GET", "/api/stream")
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        name = None
        try:
            for line in self.resp:
                line = line.decode().rstrip("\n")
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    self.events.append((name, json.loads(line[6:]), time.monotonic()))
        except (OSError, ValueError, http.client.HTTPException):
            pass
        self.closed.set()

    def statuses(self):
        return [d for n, d, _ in self.events if n == "status"]

    def close(self):
        self.conn.close()


@pytest.fixture
def panel_site(site):
    site.config["web"] = {"listen": f"127.0.0.1:{free_port()}"}
    site.start()
    add_user(site, "chi-lan", "owner", OWNER_PIN)
    add_user(site, "minh", "tenant", TENANT_PIN)
    site.web_base = "http://" + site.config["web"]["listen"]
    wait_until(lambda: _healthy(site.web_base), what="the panel to answer /healthz")
    return site


def _healthy(base):
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def fire(site):
    since = site.probe.mark()
    site.report("smoke-101", SMOKE)
    return site.wait_alarm(since=since, **{"class": "fire", "state": "raised"})[0]


def test_page_is_served_from_the_binary(panel_site):
    with urllib.request.urlopen(panel_site.web_base + "/", timeout=TIMEOUT) as r:
        html = r.read().decode()
        assert r.status == 200 and "text/html" in r.headers["Content-Type"]
    assert "<script" in html and "app.js" in html
    # Nothing fetched from the internet: every asset is local.
    assert not re.search(r"(src|href)=\"(https?:)?//", html)


def test_annunciator_shows_fire_without_login(panel_site):
    p = Panel(panel_site.web_base)
    assert p.get("/api/status")["active_alarms"] == 0
    a = fire(panel_site)
    st = p.get("/api/status")
    fires = [x for x in st["alarms"] if x["class"] == "fire"]
    assert fires and fires[0]["id"] == a["id"]
    assert fires[0]["zone_name"] == "Phòng 101"
    assert st["site"] == "test-site" and st["mode"] == "disarmed"


def test_stream_pushes_the_fire_to_an_open_page(panel_site):
    s = Stream(int(panel_site.web_base.rsplit(":", 1)[1]))
    try:
        wait_until(lambda: s.statuses(), what="the first status on the stream")
        assert s.statuses()[0]["active_alarms"] == 0
        t0 = time.monotonic()
        panel_site.report("smoke-101", SMOKE)
        wait_until(lambda: any(st["active_alarms"] > 0 and
                               any(a["class"] == "fire" for a in st["alarms"])
                               for st in s.statuses()),
                   what="a status with the fire on the stream")
        t = next(t for n, d, t in s.events if n == "status" and d["active_alarms"] > 0)
        print(f"smoke report -> fire on the stream: {(t - t0) * 1000:.0f} ms")
    finally:
        s.close()


def test_stream_ends_when_the_daemon_stops(panel_site):
    s = Stream(int(panel_site.web_base.rsplit(":", 1)[1]))
    wait_until(lambda: s.statuses(), what="the first status")
    panel_site.stop()
    assert s.closed.wait(TIMEOUT), "the stream stayed open after the daemon stopped"


def test_operation_without_login_is_refused(panel_site):
    fire(panel_site)
    code, body = Panel(panel_site.web_base).cmd(cmd="silence")
    assert code == 401, body
    assert panel_site.status()["sirens"] != "off"


def test_silence_and_reset_from_the_panel_change_the_gateway(panel_site):
    s = panel_site
    a = fire(s)
    aid = a["id"]
    p = Panel(s.web_base)
    code, body = p.login(OWNER_PIN)
    assert code == 200 and body["user"] == "chi-lan" and body["role"] == "owner", body
    since = s.probe.mark()
    code, body = p.cmd(cmd="silence")
    assert code == 200 and body["ok"] is True, body
    wait_until(lambda: s.status()["sirens"] == "off", what="the sirens off in safehousectl")
    s.wait_alarm(since=since, id=aid, state="silenced")
    code, body = p.cmd(cmd="ack", id=aid)
    assert code == 200, body
    s.report("smoke-101", CLEAR)
    wait_until(lambda: not p.cmd(cmd="reset", id=aid)[0] != 200, what="the reset accepted")
    s.wait_alarm(since=since, id=aid, state="reset")
    assert not [x for x in s.alarms() if x["id"] == aid]
    ev = s.ctl_json("events")["events"]
    assert any(e["origin"] == "chi-lan" and "silenced" in e.get("detail", "")
               for e in ev), [e for e in ev if e["origin"] == "chi-lan"]


def test_reset_over_a_live_detector_is_refused_with_the_cli_reason(panel_site):
    s = panel_site
    aid = fire(s)["id"]
    p = Panel(s.web_base)
    p.login(OWNER_PIN)
    code, body = p.cmd(cmd="reset", id=aid)
    assert code == 409 and body["ok"] is False, body
    cli = s.ctl("reset", aid)
    assert cli.returncode != 0
    assert body["error"].startswith("reset refused: ")
    assert body["error"] in cli.stderr + cli.stdout
    assert [x for x in s.alarms() if x["id"] == aid]


def test_wrong_pin_is_refused_and_counts_towards_the_lockout(panel_site):
    s = panel_site
    p = Panel(s.web_base)
    for i in range(4):
        code, body = p.login("000000")
        assert code == 401, body
        assert "wrong" in body["error"]
    code, body = p.login("000000")  # the fifth starts the lock
    assert code == 401, body
    wait_until(lambda: any(a["class"] == "tamper" for a in s.alarms()),
               what="the tamper alarm of the lock-out")
    # Locked for every way in: the right code, here and over the socket.
    code, body = p.login(OWNER_PIN)
    assert code == 429 and "locked" in body["error"], body
    ev = s.ctl_json("events")["events"]
    assert any("login refused" in json.dumps(e) for e in ev)
    assert OWNER_PIN not in s.log() and "000000" not in s.log()


def test_post_without_csrf_token_is_refused(panel_site):
    fire(panel_site)
    p = Panel(panel_site.web_base)
    p.login(OWNER_PIN)
    code, body = p.call("POST", "/api/cmd", {"cmd": "silence"}, csrf=False)
    assert code == 403, body
    assert panel_site.status()["sirens"] != "off"


def test_pin_in_a_url_is_refused_and_not_counted(panel_site):
    p = Panel(panel_site.web_base)
    for _ in range(6):
        code, body = p.call("POST", "/api/login?pin=000000", {"pin": "000000"}, csrf=False)
        assert code == 400 and "URL" in body["error"], body
    code, body = p.call("GET", "/api/status?code=" + OWNER_PIN)
    assert code == 400, body
    # Six tries and no lock: they never reached the code check.
    assert p.login(OWNER_PIN)[0] == 200
    assert "000000" not in panel_site.log() and OWNER_PIN not in panel_site.log()


@pytest.mark.parametrize("raw,why", [
    (b"{not json", "JSON"),
    (b"[1, 2]", "JSON"),
    (json.dumps({"cmd": "users", "action": "list"}).encode(), "must be"),
    (json.dumps({"cmd": "test", "action": "output", "output": "siren-hall"}).encode(),
     "must be"),
])
def test_bad_request_bodies_are_refused(panel_site, raw, why):
    p = Panel(panel_site.web_base)
    p.login(OWNER_PIN)
    code, body = p.call("POST", "/api/cmd", raw=raw)
    assert code == 400 and why in body["error"], body
    assert panel_site.alive()


def test_disable_refusals_are_the_protocol_reasons(panel_site):
    s = panel_site
    p = Panel(s.web_base)
    p.login(OWNER_PIN)
    code, body = p.cmd(cmd="disable", target="smoke-999", for_s=3600, reason="thay pin")
    assert code == 409 and "smoke-999" in body["error"], body
    code, body = p.cmd(cmd="disable", target="smoke-102", for_s=3600, reason="x" * 121)
    assert code == 409 and "reason" in body["error"], body
    code, body = p.cmd(cmd="disable", target="smoke-102", for_s=3600, reason="thay pin")
    assert code == 200, body
    st = p.get("/api/status")
    assert "smoke-102" in json.dumps(st["disablements"])
    assert "chi-lan" in json.dumps(st["disablements"])
    code, body = p.cmd(cmd="enable", target="smoke-102")
    assert code == 200, body


def test_arm_with_an_open_door_lists_it_and_force_arms(panel_site):
    s = panel_site
    s.report("door-main", {"contact": False, "battery": 90, "linkquality": 100})
    wait_until(lambda: any(x["id"] == "door-main" and x["state"] == "open"
                           for x in s.ctl_json("sensors")["sensors"]),
               what="the door open")
    p = Panel(s.web_base)
    p.login(OWNER_PIN)
    code, body = p.cmd(cmd="arm", mode="away")
    assert code == 409 and "arming refused" in body["error"], body
    assert "door-main" in body["error"] or "Cửa chính" in body["error"], body
    code, body = p.cmd(cmd="arm", mode="away", force=True)
    assert code == 200 and body["mode"] == "armed_away", body
    assert s.status()["mode"] == "armed_away"
    code, body = p.cmd(cmd="disarm")
    assert code == 200 and body["mode"] == "disarmed", body


def test_false_alarm_needs_an_owner(panel_site):
    s = panel_site
    aid = fire(s)["id"]
    t = Panel(s.web_base)
    t.login(TENANT_PIN)
    code, body = t.cmd(cmd="false_alarm", id=aid, reason="khói nấu ăn")
    assert code == 409 and "only an owner" in body["error"], body
    o = Panel(s.web_base)
    o.login(OWNER_PIN)
    code, body = o.cmd(cmd="false_alarm", id=aid, reason="khói nấu ăn")
    assert code == 200, body


def test_walk_test_starts_and_stops(panel_site):
    p = Panel(panel_site.web_base)
    p.login(OWNER_PIN)
    assert p.cmd(cmd="test", action="start")[0] == 200
    assert panel_site.status().get("test")
    assert p.cmd(cmd="test", action="stop")[0] == 200


def test_sensors_and_events_views(panel_site):
    p = Panel(panel_site.web_base)
    sensors = p.get("/api/sensors")["sensors"]
    assert {x["id"] for x in sensors} >= {"smoke-101", "door-main"}
    assert p.get("/api/events?since=24h&limit=50")["events"]
    code, body = p.call("GET", "/api/events?since=forever")
    assert code == 400, body
    code, body = p.call("GET", "/api/events?limit=0")
    assert code == 400, body


def test_view_needs_login_when_not_public(site):
    site.config["web"] = {"listen": f"127.0.0.1:{free_port()}", "public": False}
    site.start()
    add_user(site, "chi-lan", "owner", OWNER_PIN)
    p = Panel("http://" + site.config["web"]["listen"])
    wait_until(lambda: _healthy(p.base), what="the panel")
    assert p.call("GET", "/api/status")[0] == 401
    assert p.call("GET", "/api/stream")[0] == 401
    assert p.login(OWNER_PIN)[0] == 200
    assert p.get("/api/status")["site"] == "test-site"


def test_https_makes_a_self_signed_certificate_and_logs_its_fingerprint(site):
    site.config["web"] = {"listen": f"127.0.0.1:{free_port()}", "https": True}
    site.start()
    cert, key = site.dir / "web-cert.pem", site.dir / "web-key.pem"
    wait_until(lambda: cert.exists(), what="the certificate")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(cert).st_mode) == 0o600
    p = Panel("https://" + site.config["web"]["listen"], cafile=str(cert))
    wait_until(lambda: p.call("GET", "/healthz")[0] == 200, what="the panel over HTTPS")
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    fpr = ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
    assert fpr in site.log()
    # The same certificate after a restart (the owner trusted it once).
    site.stop()
    site.start()
    wait_until(lambda: site.log().count(fpr) >= 2, what="the fingerprint logged again")
    assert ssl.PEM_cert_to_DER_cert(cert.read_text()) == der


def test_bad_web_config_is_reported_with_its_position(tmp_path):
    cfg = base_config(1883)
    cfg["web"] = {"listen": "0.0.0.0", "https": "yes", "colour": 1}
    path = tmp_path / "config.json"
    text = json.dumps(cfg, indent=2)
    path.write_text(text)
    r = run_check(path)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    msgs = [d["msg"] for d in parse_diags(out)]
    assert any("invalid address" in m for m in msgs), out
    assert any("colour" in m for m in msgs), out
    assert any("https" in m for m in msgs), out


def test_port_in_use_leaves_the_gateway_guarding_without_the_panel(site):
    import socket
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        site.config["web"] = {"listen": f"127.0.0.1:{busy.getsockname()[1]}"}
        site.start()
        wait_until(lambda: "the owner's web panel is off" in site.log(),
                   what="the panel's failure in the log")
        assert "Address already in use" in site.log()
        since = site.probe.mark()
        site.report("smoke-101", SMOKE)
        site.wait_siren("fire", since=since)
    finally:
        busy.close()


@pytest.fixture
def report_site(site):
    from helpers import ROOT
    site.config["criteria"] = str(ROOT / "rules" / "model" / "criteria.json")
    site.config["web"] = {"listen": f"127.0.0.1:{free_port()}"}
    site.start()
    site.web_base = "http://" + site.config["web"]["listen"]
    wait_until(lambda: _healthy(site.web_base), what="the panel")
    return site


def test_compliance_report_is_served_as_html(report_site):
    panel_site = report_site
    fire(panel_site)
    try:
        with urllib.request.urlopen(panel_site.web_base + "/report?days=7",
                                    timeout=TIMEOUT * 3) as r:
            html = r.read().decode()
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
    except urllib.error.HTTPError as e:
        raise AssertionError(f"{e.code} {e.read()}")
    assert "<html" in html and "test-site" in html
    assert "<script" not in html
    code, body = Panel(panel_site.web_base).call("GET", "/report?days=0")
    assert code == 400 and "days" in body["error"], body
    assert panel_site.alive()


def test_report_requests_at_once_are_all_answered(report_site):
    panel_site = report_site
    results = []

    def get():
        try:
            with urllib.request.urlopen(panel_site.web_base + "/report?days=1",
                                        timeout=TIMEOUT * 3) as r:
                results.append(r.status)
        except urllib.error.HTTPError as e:
            results.append(e.code)

    threads = [threading.Thread(target=get) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 4)
    assert len(results) == 6 and set(results) <= {200, 503}, results
    assert 200 in results
    assert panel_site.status()["ok"] is True


def test_a_flood_of_changes_is_rate_limited(panel_site):
    p = Panel(panel_site.web_base)
    p.login(OWNER_PIN)
    codes = [p.cmd(cmd="silence")[0] for _ in range(80)]
    assert 429 in codes, codes
    assert codes[0] == 200
    assert panel_site.alive()
