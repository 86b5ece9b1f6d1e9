"""The single event loop must not be stalled or killed by a misbehaving
control client or a burst of signals: alarms still go out."""

import signal
import socket

from helpers import TIMEOUT


def test_stalled_control_client_does_not_delay_alarms(running_site):
    s = running_site
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    garbage = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        stalled.connect(s.socket_path)
        stalled.sendall(b'{"cmd": "sta')  # half a request, then nothing
        garbage.connect(s.socket_path)
        garbage.settimeout(TIMEOUT)
        try:
            garbage.sendall(b"\x00\xff not json at all " * 4096 + b"\n")
        except OSError:
            pass  # the daemon may hang up on it: that is fine
        m = s.probe.mark()
        s.report("smoke-101", {"smoke": True})
        s.wait_siren("fire", since=m)
        s.wait_alarm(since=m, state="raised")
        assert s.ctl("status").returncode == 0, "the control socket stopped answering"
    finally:
        stalled.close()
        garbage.close()
    assert s.alive()


def test_burst_of_sighup_keeps_the_gateway_working(running_site):
    s = running_site
    for _ in range(20):
        s.send_signal(signal.SIGHUP)
    assert s.ctl("status").returncode == 0
    m = s.probe.mark()
    s.report("smoke-101", {"smoke": True})
    s.wait_alarm(since=m, state="raised")
    s.wait_siren("fire", since=m)
    assert s.alive()


def test_telemetry_burst_then_smoke_still_raises_fire(running_site):
    s = running_site
    for i in range(500):
        s.probe.client.publish("zigbee2mqtt/heat_kitchen",
                               f'{{"temperature": {30 + (i % 10) / 10:.1f}, "battery": 90, '
                               f'"linkquality": {100 + i % 50}}}', qos=0)
    m = s.probe.mark()
    s.report("smoke-102", {"smoke": True})
    a = s.wait_alarm(since=m, state="raised")[0]
    assert a["zone"] == "room-102"
    s.wait_siren("fire", since=m)
    assert [x for x in s.alarms() if x["class"] == "fire"] != []


def test_control_client_that_never_reads_replies_does_not_delay_alarms(running_site):
    s = running_site
    hog = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        hog.connect(s.socket_path)
        hog.settimeout(TIMEOUT)
        # A script that fires requests and never reads the replies: they
        # pile up in the socket buffer until it is full.
        try:
            hog.sendall(b'{"cmd":"status"}\n' * 2000)
        except OSError:
            pass
        m = s.probe.mark()
        s.report("smoke-101", {"smoke": True})
        s.wait_siren("fire", since=m)
        s.wait_alarm(since=m, state="raised")
    finally:
        hog.close()
    assert s.alive()
