"""The control socket cannot be locked by idle or trickling clients: the
panel's silence, ack and status always get through, idle clients are closed
after control_idle_s, and a new client closes the longest idle one rather
than being refused."""

import socket
import time

from helpers import base_config, parse_diags, run_check, wait_until
from modbus_helpers import start_modbus_site, tcp_bus, use_modbus
from test_check import write_site

SMOKE = {"smoke": True, "battery": 95}


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def closed_by_peer(s):
    """True once the daemon has closed this connection (EOF or reset)."""
    s.setblocking(False)
    try:
        return s.recv(4096) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def test_200_idle_connections_do_not_lock_out_status_silence_and_ack(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    s.wait_siren("fire", since=m)
    idle = [connect(s.socket_path) for _ in range(200)]
    try:
        r = s.ctl("status")
        assert r.returncode == 0, r.stderr
        r = s.ctl("ack", "--by", "test")
        assert r.returncode == 0, r.stderr
        assert s.alarms()[0]["state"] == "acknowledged"
        r = s.ctl("silence", "--by", "test")
        assert r.returncode == 0, r.stderr
        assert s.alarms()[0]["state"] == "silenced"
        # Room was made by closing the oldest idle ones, and said so once.
        assert closed_by_peer(idle[0])
        assert s.log().count("closed the longest idle one") == 1, s.log()
        assert s.alive()
    finally:
        for c in idle:
            c.close()


def test_idle_client_is_closed_after_control_idle_s(site):
    site.config["control_idle_s"] = 1
    site.start()
    c = connect(site.socket_path)
    try:
        wait_until(lambda: closed_by_peer(c), what="the idle control client to be closed")
    finally:
        c.close()
    assert site.ctl("status").returncode == 0


def test_client_trickling_half_a_line_is_closed(site):
    site.config["control_idle_s"] = 1
    site.start()
    c = connect(site.socket_path)
    c.sendall(b'{"cmd":')

    def trickle_until_closed():
        try:
            c.sendall(b" ")
        except (BrokenPipeError, ConnectionResetError):
            return True
        time.sleep(0.1)
        return closed_by_peer(c)
    try:
        wait_until(trickle_until_closed, what="the trickling control client to be closed")
    finally:
        c.close()
    assert site.ctl("status").returncode == 0


def test_client_sending_requests_is_not_idle(site):
    # 3 s: a request every 0.4 s stays well inside it even when the machine
    # is loaded (the suite runs several tests at a time).
    site.config["control_idle_s"] = 3
    site.start()
    c = connect(site.socket_path)
    f = c.makefile("rwb")
    try:
        # Fifteen requests over about twice the idle timeout, each answered.
        for _ in range(15):
            f.write(b'{"cmd":"status"}\n')
            f.flush()
            line = f.readline()
            assert line.startswith(b'{"ok":true'), line
            time.sleep(0.4)
    finally:
        f.close()
        c.close()


def test_check_refuses_control_idle_s_out_of_range(tmp_path):
    cfg = base_config(1883)
    cfg["control_idle_s"] = 0
    path, _ = write_site(tmp_path, cfg)
    r = run_check(path)
    assert r.returncode == 1
    assert any(d["msg"].startswith("control_idle_s: 0 is out of range")
               for d in parse_diags(r.stderr)), r.stderr


def test_client_waiting_for_a_modbus_scan_is_not_idle(make_modbus_sim, site):
    # 39 silent units at the scan's 100 ms each: the scan takes several times
    # the 1 s idle timeout, and its client must still get the answer.
    sim = make_modbus_sim(units=(1,), tcp_port=0)
    use_modbus(site, [tcp_bus("tcp0", sim.port)],
               [{"id": "door-wired", "name": "door-wired", "kind": "door", "zone": "room-101",
                 "modbus": {"bus": "tcp0", "unit": 1, "discrete_input": 0}}],
               control_idle_s=1)
    start_modbus_site(site)
    r = site.ctl("modbus", "scan", "tcp0", "--units", "1-40")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "units that answer on tcp0: 1"
