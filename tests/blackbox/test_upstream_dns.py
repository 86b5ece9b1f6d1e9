"""A DNS server that does not answer never holds up a siren: the upstream
broker's host name is looked up and connected off the event loop.

slowdns.c (built here with cc, preloaded into the daemon) makes the lookup
of one name hang until the test releases it, as an unreachable DNS server
does for seconds at a time. Before this was fixed, libmosquitto's connect
looked the name up on the loop: the daemon did not even answer `status`.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import Broker, MqttProbe, free_port, wait_until

HERE = Path(__file__).resolve().parent
SMOKE = {"smoke": True, "battery": 95}
HOST = "militia.slowdns.test"


def build_shim(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler to build the DNS shim")
    out = tmp_path / "slowdns.so"
    r = subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(out),
                        str(HERE / "slowdns.c"), "-ldl"], capture_output=True, text=True)
    assert r.returncode == 0, f"cannot build the shim:\n{r.stderr}"
    return out


def hanging_dns(site, tmp_path):
    """The daemon's lookups of HOST hang until the returned file exists."""
    release = tmp_path / "dns-answers"
    env = dict(os.environ, SLOWDNS_HOST=HOST, SLOWDNS_RELEASE=str(release))
    env["LD_PRELOAD"] = " ".join(p for p in (os.environ.get("LD_PRELOAD"),
                                              str(build_shim(tmp_path))) if p)
    # An ASan build wants its runtime first; the shim only wraps getaddrinfo.
    env["ASAN_OPTIONS"] = ":".join(p for p in (os.environ.get("ASAN_OPTIONS"),
                                               "verify_asan_link_order=0") if p)
    site.env = env
    return release


def test_daemon_stops_at_once_while_the_upstream_host_name_lookup_hangs(site, tmp_path):
    hanging_dns(site, tmp_path)
    site.config["upstream"] = {"host": HOST, "port": free_port()}
    site.start(upstream_local=False)
    assert site.stop() == 0
    assert "stopped" in site.log() or "stopping" in site.log()


def test_siren_and_status_work_while_the_upstream_host_name_lookup_hangs(site, tmp_path):
    up = Broker(tmp_path / "upstream", port=free_port()).start()
    rx = MqttProbe(up.port, topics=["safehouse/#"]).connect()
    release = hanging_dns(site, tmp_path)
    try:
        site.config["upstream"] = {"host": HOST, "port": up.port}
        site.start(upstream_local=False)
        assert not site.status()["mqtt"]["upstream"]
        m = site.probe.mark()
        site.report("smoke-101", SMOKE)
        site.wait_siren("fire", since=m)
        wait_until(lambda: site.status()["outbox_pending"] >= 3, what="the alarm queued")
        # The DNS answers: the link comes up and what waited arrives.
        release.write_text("")
        alarm = site.wait_alarm(probe=rx, state="raised")[0]
        assert alarm["sensor"] == "smoke-101"
    finally:
        rx.close()
        up.stop()
