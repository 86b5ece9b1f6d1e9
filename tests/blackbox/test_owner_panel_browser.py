"""The owner's panel in a real browser (Debian chromium driven by npm
playwright-core, tests/browser/owner_panel.mjs) against a real safehoused and
a real mosquitto: the annunciator turns red on a smoke report, a wrong PIN is
refused and counts towards the lock-out, silence and reset from the page
change the panel (seen in safehousectl and in the upstream feed), a reset
over a live detector is refused with the reason shown, and the page says it
has lost the gateway when the daemon stops. Screenshots at phone and tablet
sizes are kept in tests/browser/artifacts/owner_panel (or
$SAFEHOUSE_ARTIFACTS)."""

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from helpers import ROOT, free_port, wait_until
from test_owner_panel import CLEAR, OWNER_PIN, SMOKE, Panel, _healthy, add_user

BROWSER_DIR = ROOT / "tests" / "browser"
NODE = shutil.which("node")
CHROMIUM = "/usr/bin/chromium"


def _skip_reason():
    if not NODE:
        return "node is not installed (deploy/install-deps.sh installs it)"
    if not os.access(CHROMIUM, os.X_OK):
        return "chromium is not installed (deploy/install-deps.sh installs it)"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed (tests/browser/setup.sh)"
    return None


def artifacts_dir(name):
    d = Path(os.environ.get("SAFEHOUSE_ARTIFACTS", BROWSER_DIR / "artifacts")) / name
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob("*.png"):
        old.unlink()
    return d


class Script:
    def __init__(self, base, shots):
        self.proc = subprocess.Popen(
            [NODE, str(BROWSER_DIR / "owner_panel.mjs"), "--url", base, "--pin", OWNER_PIN,
             "--shots", str(shots)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            cwd=BROWSER_DIR, bufsize=1)
        self.lines = queue.Queue()
        self.out = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.out.append(line)
            self.lines.put(line.strip())
        self.lines.put(None)

    def expect(self, prefix, timeout=90):
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {prefix!r} from the browser:\n" + "".join(self.out))
            if line is None or line.startswith("{"):
                raise AssertionError(f"the browser script ended before {prefix!r}:\n" +
                                     "".join(self.out))
            if line.startswith(prefix):
                return line

    def go(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self, timeout=90):
        self.proc.wait(timeout)
        finals = [line for line in self.out if line.startswith("{")]
        assert finals, "".join(self.out)
        return self.proc.returncode, json.loads(finals[-1])

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def test_owner_panel_in_a_browser(site):
    reason = _skip_reason()
    if reason:
        pytest.fail(reason, pytrace=False)
    s = site
    s.config["web"] = {"listen": f"127.0.0.1:{free_port()}"}
    s.start()
    add_user(s, "chi-lan", "owner", OWNER_PIN)
    base = "http://" + s.config["web"]["listen"]
    wait_until(lambda: _healthy(base), what="the panel")
    shots = artifacts_dir("owner_panel")
    sc = Script(base, shots)
    try:
        sc.expect("READY fire")
        since = s.probe.mark()
        t0 = time.time()
        s.report("smoke-101", SMOKE)
        red = sc.expect("RED")
        red_ms = int(red.split()[1]) - t0 * 1000
        print(f"smoke report -> page red: {red_ms:.0f} ms")
        aid = s.wait_alarm(since=since, **{"class": "fire"})[0]["id"]

        sc.expect("READY silenced")
        # The page's silence reached the gateway and the militia's feed.
        assert s.status()["sirens"] == "off"
        s.wait_alarm(since=since, id=aid, state="silenced", by="chi-lan")
        # The page's wrong PIN was recorded like a wrong code anywhere.
        events = s.ctl_json("events")["events"]
        assert any(e["type"] == "command" and "login refused" in e.get("detail", "")
                   for e in events), events
        sc.go()

        sc.expect("READY clear")
        s.report("smoke-101", CLEAR)
        wait_until(lambda: [x for x in s.ctl_json("sensors")["sensors"]
                            if x["id"] == "smoke-101" and x["state"] == "clear"],
                   what="the detector clear")
        sc.go()

        sc.expect("READY lockout")
        s.wait_alarm(since=since, id=aid, state="reset", by="chi-lan")
        assert not [a for a in s.alarms() if a["id"] == aid]
        wait_until(lambda: any(e["type"] == "false_alarm" and e["origin"] == "chi-lan" and
                               "khói nấu ăn" in e.get("detail", "")
                               for e in s.ctl_json("events")["events"]),
                   what="the false alarm recorded by chi-lan")
        # Four wrong codes here; the browser's wrong PIN is the fifth.
        p = Panel(base)
        for _ in range(4):
            assert p.login("999999")[0] == 401
        assert not any(a["class"] == "tamper" for a in s.alarms())
        sc.go()

        sc.expect("READY stop")
        assert any(a["class"] == "tamper" for a in s.alarms()), s.alarms()
        s.stop()
        sc.go()
        rc, res = sc.result()
        assert rc == 0 and res["ok"], "".join(sc.out)
        assert res["user"] == "chi-lan"
        assert "reset refused" in res["reset_refused"]
        assert res["locked"]
        print(json.dumps(res, ensure_ascii=False, indent=1))
    finally:
        sc.kill()
        print("----- browser -----\n" + "".join(sc.out)[-6000:])
    names = {p.name for p in shots.glob("*.png")}
    assert {"phone-fire.png", "tablet-fire.png", "phone-lost.png", "tablet-lost.png"} <= names

