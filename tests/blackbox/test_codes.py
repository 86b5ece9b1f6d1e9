"""User codes: over MQTT a code is required and names the actor; a duress
code disarms and silently calls the militia; five wrong codes lock entry
and raise a tamper alarm."""

import json

from helpers import wait_until

DURESS_RULES = """\
rule "keypad panic calls the militia"
when alarm panic becomes raised
then alert militia priority urgent
end
"""


def add_user(s, name, role, pin, duress=None):
    args = ["users", "add", name, "--role", role, "--pin-stdin"]
    text = pin + "\n"
    if duress:
        args.append("--duress")
        text += duress + "\n"
    import subprocess
    from helpers import SAFEHOUSECTL
    r = subprocess.run([SAFEHOUSECTL, "-s", s.socket_path, *args], input=text,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r


def command(s, payload):
    m = s.probe.mark()
    s.probe.publish(s.topic("command"), json.dumps(payload))
    got = s.probe.wait_for(s.topic("command") + "/result", since=m,
                           what=f"a result for {payload.get('cmd')}")
    return got[0].json()


def test_users_are_listed_without_their_codes(running_site):
    s = running_site
    add_user(s, "Lan", "owner", "2468")
    add_user(s, "Hùng", "installer", "135790", duress="135791")
    users = s.ctl_json("users")["users"]
    assert {(u["name"], u["role"], u["duress"]) for u in users} == \
        {("Lan", "owner", False), ("Hùng", "installer", True)}
    assert "2468" not in json.dumps(users)


def test_mqtt_command_without_a_code_is_refused(running_site):
    s = running_site
    add_user(s, "Lan", "owner", "2468")
    r = command(s, {"cmd": "arm", "mode": "away", "id": 7})
    assert r["ok"] is False and "code is required" in r["error"]
    assert r["request"] == 7
    assert s.status()["mode"] == "disarmed"


def test_mqtt_command_with_a_code_arms_and_names_the_user(running_site):
    s = running_site
    add_user(s, "Lan", "owner", "2468")
    r = command(s, {"cmd": "arm", "mode": "night", "code": "2468"})
    assert r["ok"] is True, r
    assert s.status()["mode"] == "armed_night"
    wait_until(lambda: any("by Lan" in (e.get("detail") or "")
                           for e in s.ctl_json("events", "--since", "1h")["events"]),
               what="the arming recorded as done by Lan")


def test_mqtt_status_needs_no_code_but_users_cannot_be_managed_over_mqtt(running_site):
    s = running_site
    assert command(s, {"cmd": "status"})["ok"] is True
    r = command(s, {"cmd": "users", "action": "add", "name": "x", "role": "owner",
                    "pin": "1234", "code": "0000"})
    assert r["ok"] is False
    assert s.ctl_json("users")["users"] == []


def test_duress_code_disarms_and_silently_calls_the_militia(site):
    site.rules["duress.rules"] = DURESS_RULES
    s = site.start()
    add_user(s, "Lan", "owner", "2468", duress="2469")
    assert command(s, {"cmd": "arm", "mode": "away", "code": "2468"})["ok"]
    m = s.probe.mark()
    r = command(s, {"cmd": "disarm", "code": "2469"})
    assert r == {"ok": True, "mode": "disarmed"}  # nothing tells the intruder
    assert s.status()["mode"] == "disarmed"
    alert = s.wait_alert(since=m, to="militia")[0]
    assert alert["class"] == "panic" and alert["priority"] == "urgent"
    s.barrier()
    assert s.siren_cmds(since=m) == []


def test_five_wrong_codes_lock_entry_and_raise_tamper(running_site):
    s = running_site
    add_user(s, "Lan", "owner", "2468")
    m = s.probe.mark()
    for _ in range(5):
        r = command(s, {"cmd": "disarm", "code": "0000"})
        assert r["ok"] is False and "wrong code" in r["error"]
    s.wait_alarm(since=m, **{"class": "tamper", "state": "raised"})
    r = command(s, {"cmd": "disarm", "code": "2468"})
    assert r["ok"] is False and "locked" in r["error"]


def test_a_code_on_the_control_socket_is_checked_too(running_site):
    s = running_site
    add_user(s, "Lan", "owner", "2468")
    r = s.ctl("arm", "home", "--code", "1111")
    assert r.returncode == 1 and "wrong code" in r.stderr
    r = s.ctl("arm", "home", "--code", "2468")
    assert r.returncode == 0, r.stderr
    assert s.status()["mode"] == "armed_home"


def test_malformed_mqtt_commands_get_an_error_and_change_nothing(running_site):
    s = running_site
    add_user(s, "Lan", "owner", "2468")
    for bad in (b"", b"not json", b"[]", b'{"cmd": 5}', b'{"mode": "away"}',
                b'{"cmd": "arm", "mode": "holiday", "code": "2468"}',
                b'{"cmd": "arm", "mode": "away", "code": 2468}',
                b'{"cmd": "selfdestruct", "code": "2468"}', b"\xff\xfe\x00"):
        m = s.probe.mark()
        s.probe.publish(s.topic("command"), bad)
        r = s.probe.wait_for(s.topic("command") + "/result", since=m,
                             what=f"a result for {bad!r}")[0].json()
        assert r["ok"] is False and r["error"], bad
    assert s.status()["mode"] == "disarmed"
    # Home Assistant's command topic: garbage is logged and ignored
    for bad in (b"ARM_AWAY", b'{"action": "SELF_DESTRUCT", "code": "2468"}', b"{}"):
        s.probe.publish("safehouse/test-site/panel/set", bad)
    s.barrier()
    assert s.alive() and s.status()["mode"] == "disarmed"
