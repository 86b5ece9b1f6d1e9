"""The duty console in a real browser (Debian chromium driven by npm
playwright-core, tests/browser/): an officer logs in (after a wrong
password is refused), sees a real gateway's fire appear live, clicks
acknowledge, and sees the gateway's acknowledged state come back; a POST
without the CSRF token is refused. Screenshots are kept in
tests/browser/artifacts/ (or $SAFEHOUSE_ARTIFACTS)."""

import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from helpers import ROOT, SITE_ID, TIMEOUT, wait_until
from station_helpers import PASSWORD, STATION, Station

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


@pytest.fixture
def console(tmp_path, broker):
    reason = _skip_reason()
    if reason:
        pytest.fail(reason, pytrace=False)
    st = Station(tmp_path / "station", broker)
    st.config["sites"] = [{"id": SITE_ID, "name": "Nhà trọ thử nghiệm",
                           "address": "Số 7, hẻm 3", "phone": "+84909000111",
                           "geo": {"lat": 10.6412, "lon": 106.7235}}]
    st.add_user("an", "officer")
    yield st
    st.close()
    print(f"----- station log -----\n{st.log()[-10000:]}")


def artifacts_dir(name):
    d = Path(os.environ.get("SAFEHOUSE_ARTIFACTS", BROWSER_DIR / "artifacts")) / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def run_script(station, scenario, shots, expect_site=None, on_ready=None, timeout=120):
    cmd = [NODE, str(BROWSER_DIR / "station_console.mjs"), "--url", station.base, "--user",
           "an", "--password", PASSWORD, "--shots", str(shots), "--scenario", scenario]
    if expect_site:
        cmd += ["--expect-site", expect_site]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=BROWSER_DIR)
    out = []
    ready = threading.Event()

    def reader():
        for line in proc.stdout:
            out.append(line)
            if line.strip() == "READY":
                ready.set()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        if on_ready:
            assert ready.wait(60), "the browser script never got ready:\n" + "".join(out)
            on_ready()
        rc = proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    t.join(5)
    return rc, "".join(out)


def test_officer_sees_the_fire_live_and_acknowledges_it_in_the_browser(console,
                                                                        running_site):
    console.start()
    shots = artifacts_dir("ack")

    def trigger():
        running_site.report("smoke-101", {"smoke": True})

    rc, out = run_script(console, "ack", shots, expect_site=SITE_ID, on_ready=trigger)
    assert rc == 0, out
    # The gateway itself holds the acknowledgment the browser asked for.
    acked = wait_until(lambda: [a for a in running_site.alarms()
                                if a["state"] == "acknowledged"], what="acknowledged")
    assert acked
    assert list(shots.glob("*.png")), "no screenshots kept"


def test_console_pages_render_on_a_phone_and_a_duty_pc(console, running_site):
    console.start()
    shots = artifacts_dir("smoke")
    rc, out = run_script(console, "smoke", shots)
    assert rc == 0, out
    assert len(list(shots.glob("*.png"))) >= 2
