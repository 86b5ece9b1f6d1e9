"""The service's sandbox, approximated without systemd: the gateway runs
with no capabilities at all (empty bounding set, as CapabilityBoundingSet=
empty), no new privileges (NoNewPrivileges=yes), a read-only root
filesystem except its own directory (as ProtectSystem=strict with
ReadWritePaths= for the database and the socket), and a seccomp filter with
only systemd's @system-service system calls, EPERM for the others, and
sockets of AF_UNIX, AF_INET and AF_INET6 only (SystemCallFilter=,
SystemCallErrorNumber=, RestrictAddressFamilies=; seccomp_exec.py), and
still reaches its broker, its database, a serial port (Modbus RTU on a pty)
and its control socket, and sounds a siren. The station, in the same
sandbox, reaches its broker and database and serves its console.

What this does NOT reproduce (systemd is not PID 1 in the test container):
the unit's user (it runs as uid 0 without capabilities, so file permissions
apply as for the file owner), DeviceAllow= (a pty is char-pts, which the
unit's device list would refuse: real ports are ttyUSB/ttyACM/ttyS/ttyAMA),
PrivateTmp=, MemoryDenyWriteExecute= and the other Protect*= settings.
LeakSanitizer is off inside (its ptrace is not a @system-service call).
tests/package/build.sh checks the unit files with systemd-analyze verify
and security."""

import os
import shutil
import sqlite3

import pytest

from helpers import ROOT, sanitizer_report, wait_until
from modbus_helpers import rtu_bus, start_modbus_site, use_modbus, wait_device
from station_helpers import GatewaySim, Station, require_station

SMOKE_RULE = """\
rule "wired smoke"
when sensor "smoke-wired" becomes detected
then
  alarm fire
  siren on fire
  alert militia
end
"""

# In a private mount namespace: the site's directory stays writable (a bind
# mount of its own), everything else under / becomes read-only; then the
# daemon is exec'd without capabilities and with no_new_privs.
SANDBOX = r"""
set -e
mount --make-rprivate /
mount --bind "$SITE_DIR" "$SITE_DIR"
mount -o remount,bind,ro /
exec setpriv --bounding-set=-all --inh-caps=-all --ambient-caps=-all --no-new-privs "$@"
"""


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def root_mount_options(pid):
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == "/":
                return fields[5].split(",")
    return []


def sandbox(writable_dir):
    """(env, wrapper) that run a process in the approximated sandbox, with
    writable_dir its only writable place."""
    for tool in ("unshare", "setpriv", "mount", "systemd-analyze"):
        if not shutil.which(tool):
            pytest.fail(f"missing {tool} (util-linux, systemd)", pytrace=False)
    try:
        import seccomp  # noqa: F401
    except ImportError:
        pytest.fail("missing python3-seccomp (deploy/install-deps.sh)", pytrace=False)
    env = dict(os.environ, SITE_DIR=str(writable_dir),
               ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
    wrapper = ["unshare", "-m", "sh", "-c", SANDBOX, "sandbox", "/usr/bin/python3",
               str(ROOT / "tests" / "blackbox" / "seccomp_exec.py"), "@system-service", "--"]
    return env, wrapper


def assert_sandboxed(pid, name):
    """The sandbox is real, or the test would prove nothing."""
    st = proc_status(pid)
    assert st["Name"] == name[:15], st["Name"]  # comm: 15 characters
    assert int(st["CapEff"], 16) == 0 and int(st["CapBnd"], 16) == 0, st
    assert st["NoNewPrivs"] == "1"
    assert st["Seccomp"] == "2", "the system call filter is on"
    assert "ro" in root_mount_options(pid)


def test_sandboxed_gateway_reaches_broker_database_serial_port_and_socket(modbus_rtu, site):
    sim = modbus_rtu
    use_modbus(site, [rtu_bus("rtu0", sim.gw_end)], [
        {"id": "smoke-wired", "name": "smoke-wired", "kind": "smoke", "zone": "room-101",
         "modbus": {"bus": "rtu0", "unit": 1, "discrete_input": 0}},
    ], rules=SMOKE_RULE)
    site.env, site.wrapper = sandbox(site.dir)
    # Ready: the control socket answers `status` (the socket), the retained
    # online status came through the broker, the RTU device answered.
    start_modbus_site(site)
    wait_device(site, "rtu0", 1, "ok")

    assert_sandboxed(site.proc.pid, "safehoused")

    # A fire on the serial port: the alarm goes out through the broker, the
    # siren sounds, and the database has it.
    m = site.probe.mark()
    sim.set("di", 1, 0, 1)
    fire = site.wait_alarm(since=m, state="raised", **{"class": "fire"})[0]
    site.wait_siren("fire", since=m)
    site.barrier()
    with sqlite3.connect(f"file:{site.db_path}?mode=ro", uri=True) as db:
        wait_until(lambda: db.execute("SELECT count(*) FROM alarms WHERE id = ?",
                                      (fire["id"],)).fetchone()[0] == 1,
                   what="the fire alarm in the database")
    assert "Read-only file system" not in site.log()


def test_sandboxed_station_reaches_broker_database_and_console(tmp_path, broker):
    require_station()
    st = Station(tmp_path / "station", broker)
    st.config["sites"] = [{"id": "nt-sandbox", "name": "Nhà trọ thử", "address": "Số 1",
                           "phone": "+84909000111", "geo": {"lat": 10.6, "lon": 106.7}}]
    st.env, st.wrapper = sandbox(st.dir)
    gw = GatewaySim(broker.port)
    try:
        # Ready: /healthz answers and says the broker is connected.
        st.start()
        assert_sandboxed(st.proc.pid, "safehouse-station")
        # A gateway's alarm through the broker lands in the station's database.
        gw.alarm("nt-sandbox", 1)
        wait_until(lambda: st.feed_rows("nt-sandbox") >= 1,
                   what="the alarm in the station's database")
    finally:
        gw.close()
        rc = st.close()
        log = st.log()
        print(f"----- station log -----\n{log[-20000:]}")
    assert not sanitizer_report(log), sanitizer_report(log)
    assert rc in (None, 0), f"safehouse-station exited with status {rc} on SIGTERM"


def test_sandboxed_gateway_makes_its_certificate_and_serves_the_owners_panel(site):
    import json
    import ssl
    import urllib.request
    from helpers import free_port
    site.config["web"] = {"listen": f"127.0.0.1:{free_port()}", "https": True}
    site.env, site.wrapper = sandbox(site.dir)
    site.start()
    assert_sandboxed(site.proc.pid, "safehoused")
    cert = site.dir / "web-cert.pem"
    wait_until(cert.exists, what="the self-signed certificate")
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False
    url = f"https://{site.config['web']['listen']}/api/status"

    def status():
        try:
            with urllib.request.urlopen(url, timeout=2, context=ctx) as r:
                return json.load(r)
        except OSError:
            return None
    st = wait_until(status, what="the owner's panel over HTTPS")
    assert st["site"] == "test-site"
