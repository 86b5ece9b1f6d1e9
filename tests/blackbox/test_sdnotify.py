"""safehoused and safehouse-station speak systemd's notification protocol
(sd_notify(3)) the way their Type=notify units with WatchdogSec= rely on:
READY=1 once they can serve, WATCHDOG=1 from their event loop, RELOADING=1
then READY=1 around a SIGHUP, STOPPING=1 at a stop.

systemd cannot run as PID 1 in the test container, so the test plays the
service manager: it binds the datagram socket systemd would pass in
NOTIFY_SOCKET, sets WATCHDOG_USEC to 2 s, and reads what the daemon sends.
A stopped event loop (SIGSTOP) sends no WATCHDOG=1 for longer than the
watchdog interval: that silence is what makes systemd kill and restart
the service (WatchdogSec=, Restart=always). The restart itself is systemd's
and is not exercised here."""

import os
import signal
import socket
import threading
import time

import pytest

from helpers import TIMEOUT, sanitizer_report, wait_until
from station_helpers import Station, require_station

WATCHDOG_USEC = 2_000_000  # the pings come every 1 s (half of it)


class NotifySocket:
    """The service manager's end: every datagram the daemon sends, in order,
    as a set of its KEY=VALUE lines."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.msgs = []  # [(monotonic time, {KEY: VALUE})]
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while self.running:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines()
                          if "=" in line)
            with self.lock:
                self.msgs.append((time.monotonic(), fields))

    def close(self):
        self.running = False
        self.thread.join(TIMEOUT)
        self.sock.close()

    def env(self, **extra):
        e = dict(os.environ)
        e.pop("WATCHDOG_PID", None)
        e.update(NOTIFY_SOCKET=self.path, WATCHDOG_USEC=str(WATCHDOG_USEC))
        e.update({k: str(v) for k, v in extra.items()})
        return e

    def mark(self):
        with self.lock:
            return len(self.msgs)

    def since(self, mark, key=None, value=None):
        with self.lock:
            return [f for _, f in self.msgs[mark:]
                    if key is None or (key in f and (value is None or f[key] == value))]

    def wait_for(self, key, value="1", since=0, timeout=TIMEOUT, what=None):
        """The index just past the first datagram from `since` on that has
        key=value (the datagram itself is self.msgs[index - 1])."""
        found = []

        def seen():
            with self.lock:
                for i in range(since, len(self.msgs)):
                    if self.msgs[i][1].get(key) == value:
                        found.append(i + 1)
                        return True
            return False
        wait_until(seen, timeout=timeout, what=what or f"{key}={value} on NOTIFY_SOCKET")
        return found[0]

    def fields(self, index):
        with self.lock:
            return self.msgs[index - 1][1]


@pytest.fixture
def notify(tmp_path):
    n = NotifySocket(tmp_path / "notify.sock")
    yield n
    n.close()


def wait_stopped(pid):
    """Until the kernel says the process is stopped (state T)."""
    def stopped():
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("T", "t")
    wait_until(stopped, what="the process to be stopped")


def assert_watchdog_follows_the_loop(notify, proc):
    """Pings keep coming; none while the process is stopped, for longer
    than the watchdog interval; they come again once it continues."""
    m = notify.mark()
    notify.wait_for("WATCHDOG", since=m, what="a first WATCHDOG=1")
    m2 = notify.mark()
    notify.wait_for("WATCHDOG", since=m2, what="WATCHDOG=1 to keep coming")
    proc.send_signal(signal.SIGSTOP)
    try:
        wait_stopped(proc.pid)
        # A ping sent just before the stop may still be on its way to the
        # reader thread: let it land before the silent window starts.
        time.sleep(0.3)
        quiet = notify.mark()
        # The window: longer than WATCHDOG_USEC, where systemd would act.
        time.sleep(WATCHDOG_USEC / 1e6 + 0.5)
        assert notify.since(quiet, "WATCHDOG") == [], \
            "a stopped process cannot run its loop: no ping may arrive"
    finally:
        proc.send_signal(signal.SIGCONT)
    notify.wait_for("WATCHDOG", since=quiet, what="WATCHDOG=1 again after SIGCONT")


# ---- safehoused ------------------------------------------------------------

@pytest.fixture
def notified_site(site, notify):
    site.env = notify.env()
    return site


def test_gateway_says_ready_only_once_its_control_socket_answers(notified_site, notify):
    notified_site.start(wait=False)
    i = notify.wait_for("READY", what="READY=1 from safehoused")
    # No retry: READY=1 means the control socket already listens.
    r = notified_site.ctl("status")
    assert r.returncode == 0, r.stderr
    assert notified_site.config["site"]["id"] in notify.fields(i).get("STATUS", "")
    assert len(notify.since(0, "READY")) == 1


def test_gateway_watchdog_pings_come_from_its_loop(notified_site, notify):
    notified_site.start()
    notify.wait_for("READY")
    assert_watchdog_follows_the_loop(notify, notified_site.proc)
    # And the gateway still works after the stop.
    assert notified_site.ctl("status").returncode == 0


def test_gateway_reload_says_reloading_then_ready(notified_site, notify):
    notified_site.start()
    notify.wait_for("READY")
    m = notify.mark()
    notified_site.send_signal(signal.SIGHUP)
    i = notify.wait_for("RELOADING", since=m, what="RELOADING=1 on SIGHUP")
    # systemd >= 253 wants the reload's start time with it.
    assert int(notify.fields(i)["MONOTONIC_USEC"]) > 0
    notify.wait_for("READY", since=i, what="READY=1 after the reload")
    wait_until(lambda: "reload: done" in notified_site.log(), what="the reload to be logged")


def test_gateway_failed_reload_still_says_ready(notified_site, notify):
    """A config broken on disk keeps the running one: the service is still
    up, and systemd must not wait for a READY=1 that never comes."""
    notified_site.start()
    notify.wait_for("READY")
    notified_site.config_path.write_text("{ not json")
    m = notify.mark()
    notified_site.send_signal(signal.SIGHUP)
    i = notify.wait_for("RELOADING", since=m)
    notify.wait_for("READY", since=i, what="READY=1 after the failed reload")
    assert notified_site.ctl("status").returncode == 0
    notified_site.write()  # the teardown's stop expects a valid config around


def test_gateway_stop_says_stopping(notified_site, notify):
    notified_site.start()
    notify.wait_for("READY")
    m = notify.mark()
    assert notified_site.stop() == 0
    notify.wait_for("STOPPING", since=m, what="STOPPING=1 on SIGTERM")


def test_gateway_ignores_a_watchdog_meant_for_another_process(site, notify):
    """WATCHDOG_PID names the process systemd watches; a daemon started by
    that process (a wrapper script) must not ping on its behalf."""
    site.env = notify.env(WATCHDOG_PID=os.getpid())
    site.start()
    notify.wait_for("READY")
    time.sleep(WATCHDOG_USEC / 1e6 + 0.5)
    assert notify.since(0, "WATCHDOG") == []


def test_gateway_runs_with_a_bad_watchdog_setting_or_no_listener(site, tmp_path):
    """A garbled WATCHDOG_USEC and a NOTIFY_SOCKET nobody listens on are
    ignored: the gateway starts and serves all the same."""
    env = dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "nobody.sock"), WATCHDOG_USEC="soon")
    site.env = env
    site.start()
    assert site.ctl("status").returncode == 0
    assert site.alive()


# ---- safehouse-station -----------------------------------------------------

@pytest.fixture
def station(tmp_path, broker, notify):
    require_station()
    st = Station(tmp_path / "station", broker)
    st.env = notify.env()
    yield st
    rc = st.close()
    log = st.log()
    print(f"----- station log -----\n{log[-20000:]}")
    report = sanitizer_report(log)
    if report:
        pytest.fail(f"sanitizer report in the station log: {report}", pytrace=False)
    if rc not in (None, 0):
        pytest.fail(f"safehouse-station exited with status {rc} on SIGTERM", pytrace=False)


def test_station_says_ready_only_once_its_console_answers(station, notify):
    station.start(wait=False)
    i = notify.wait_for("READY", what="READY=1 from safehouse-station")
    # No retry: READY=1 means the console already listens.
    code, body, _ = station.request("GET", "/healthz")
    assert code in (200, 503) and isinstance(body, dict), (code, body)
    assert "console on" in notify.fields(i).get("STATUS", "")


def test_station_watchdog_pings_come_from_its_loop(station, notify):
    station.start()
    notify.wait_for("READY")
    assert_watchdog_follows_the_loop(notify, station.proc)
    wait_until(station.healthy, what="the station to serve again")


def test_station_reload_and_stop_are_announced(station, notify):
    station.start()
    notify.wait_for("READY")
    m = notify.mark()
    station.proc.send_signal(signal.SIGHUP)
    i = notify.wait_for("RELOADING", since=m, what="RELOADING=1 on SIGHUP")
    notify.wait_for("READY", since=i, what="READY=1 after the reload")
    m = notify.mark()
    assert station.stop() == 0
    notify.wait_for("STOPPING", since=m, what="STOPPING=1 on SIGTERM")


def test_station_status_line_says_when_the_broker_is_down(station, notify, broker):
    """`systemctl status safehouse-station` must not look fine while no
    alarm can arrive."""
    station.start()
    notify.wait_for("READY")
    m = notify.mark()
    broker.fixed_port = broker.port  # back on the same port, where the station looks
    broker.stop()
    wait_until(lambda: [f for f in notify.since(m, "STATUS")
                        if "broker DOWN" in f["STATUS"]], what="STATUS= with broker DOWN")
    m = notify.mark()
    broker.start()
    wait_until(lambda: [f for f in notify.since(m, "STATUS")
                        if "connected" in f["STATUS"]], timeout=40,
               what="STATUS= with the broker connected again")
