"""The command table: both programs know the same commands, an unknown one
gets the nearest known name, and what may not come over MQTT is refused
there without harm."""

import json
import socket
import subprocess

from helpers import SAFEHOUSECTL, wait_until
from test_codes import add_user, command

SMOKE = {"smoke": True, "battery": 95}


def request(path, req):
    """One raw request line on the control socket, its parsed reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(path)
        s.sendall(json.dumps(req).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(4096)
            assert chunk, "connection closed before a reply"
            buf += chunk
    return json.loads(buf)


def test_daemon_answers_an_unknown_command_with_the_nearest_known_one(running_site):
    r = request(running_site.socket_path, {"cmd": "stauts"})
    assert r["ok"] is False
    assert 'did you mean "status"?' in r["error"]
    # The list of known commands comes from the table: modbus is in it.
    assert "modbus" in r["error"] and "users" in r["error"]


def test_safehousectl_suggests_the_nearest_command_and_exits_2():
    r = subprocess.run([SAFEHOUSECTL, "-s", "/nonexistent/control.sock", "silense"],
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    assert 'unknown command "silense"; did you mean "silence"?' in r.stderr
    assert "usage: safehousectl" in r.stderr


def test_help_lists_every_command_the_daemon_knows(running_site):
    err = request(running_site.socket_path, {"cmd": "nosuchcommand"})["error"]
    known = err.split("(known: ")[1].rstrip(")").split(", ")
    out = subprocess.run([SAFEHOUSECTL, "--help"], capture_output=True, text=True,
                         timeout=30).stdout
    lines = [l.strip() for l in out.splitlines()]
    for name in known:
        assert any(l.startswith(name) for l in lines), f"{name} missing from --help"


def test_modbus_tools_are_refused_over_mqtt_and_the_daemon_keeps_running(running_site):
    s = running_site
    r = command(s, {"cmd": "modbus", "action": "scan", "bus": "rs485", "id": 3})
    assert r["ok"] is False and "only on the gateway" in r["error"]
    assert r["request"] == 3
    assert s.status()["ok"] is True


def test_ack_without_an_id_checks_the_code_given(running_site):
    s = running_site
    add_user(s, "Lan", "owner", "2468")
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    s.wait_siren("fire", since=m)
    r = s.ctl("ack", "--code", "0000")
    assert r.returncode == 1 and "refused" in r.stderr
    assert all(a["state"] != "acknowledged" for a in s.alarms())
    r = s.ctl("ack", "--code", "2468")
    assert r.returncode == 0, r.stderr
    assert [a.get("acknowledged_by") for a in s.alarms()] == ["Lan"]
