"""Disablement, walk test, arming with open doors, and the sensors and
events commands, as an owner or installer uses them."""

from helpers import find_alarm, wait_until

SMOKE = {"smoke": True, "battery": 97}
CLEAR = {"smoke": False, "battery": 97}


def test_a_disabled_sensor_never_triggers_and_shows_in_status(running_site):
    s = running_site
    m0 = s.probe.mark()
    r = s.ctl("disable", "smoke-101", "--for", "2h", "--reason", "thay đầu báo", "--by", "Lan")
    assert r.returncode == 0, r.stderr
    st = s.status()
    d = st["disablements"][0]
    assert (d["target"], d["kind"], d["reason"], d["by"]) == \
        ("smoke-101", "sensor", "thay đầu báo", "Lan")
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    s.barrier()
    assert s.alarm_msgs(since=m) == []
    assert s.siren_cmds(since=m) == []
    assert s.alarms() == []
    # the retained upstream status shows it to the militia too
    wait_until(lambda: any(msg.json().get("disablements") for msg in
                           s.probe.select(s.topic("status"), m0)),
               what="the disablement in the upstream status")


def test_enabling_a_sensor_again_makes_it_trigger(running_site):
    s = running_site
    assert s.ctl("disable", "smoke-101", "--for", "1h", "--reason", "test").returncode == 0
    assert s.ctl("enable", "smoke-101").returncode == 0
    assert s.status()["disablements"] == []
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    s.wait_alarm(since=m, state="raised", sensor="smoke-101")


def test_a_disabled_zone_silences_every_sensor_in_it(running_site):
    s = running_site
    assert s.ctl("disable", "room-102", "--for", "30m", "--reason", "sơn phòng").returncode == 0
    m = s.probe.mark()
    s.report("smoke-102", SMOKE)
    s.report("smoke-101", SMOKE)
    s.wait_alarm(since=m, state="raised", sensor="smoke-101")
    s.barrier()
    assert s.alarm_msgs(since=m, sensor="smoke-102") == []


def test_a_disablement_ends_by_itself_at_its_expiry(running_site):
    s = running_site
    assert s.ctl("disable", "smoke-101", "--for", "2s", "--reason", "brief").returncode == 0
    wait_until(lambda: s.status()["disablements"] == [], what="the disablement to expire")
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    s.wait_alarm(since=m, state="raised", sensor="smoke-101")


def test_bad_disable_commands_are_refused_and_change_nothing(running_site):
    s = running_site
    for args, why in ((("disable", "smoke-999", "--for", "1h", "--reason", "x"), "neither"),
                      (("disable", "smoke-101", "--for", "8d", "--reason", "x"), "7 days"),
                      (("disable", "smoke-101", "--for", "soon", "--reason", "x"), "--for"),
                      (("disable", "smoke-101", "--for", "1h"), "--reason"),
                      (("enable", "smoke-101"), "not disabled")):
        r = s.ctl(*args)
        assert r.returncode != 0, args
        assert why in r.stderr, (args, r.stderr)
    assert s.status()["disablements"] == []


def test_walk_test_records_activations_and_alerts_nobody(running_site):
    s = running_site
    r = s.ctl("test", "start", "room-101", "--by", "Thợ Hùng")
    assert r.returncode == 0, r.stderr
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    wait_until(lambda: (s.status().get("test") or {}).get("activations") == 1,
               what="the walk test to count the activation")
    s.report("smoke-101", CLEAR)
    s.barrier()
    assert s.alarm_msgs(since=m) == []
    assert s.alert_msgs(since=m) == []
    assert s.siren_cmds(since=m) == []  # no --sirens: a test at night wakes nobody
    assert s.ctl("test", "stop").returncode == 0
    assert s.status()["test"] is None
    # the test is in the record an inspector reads
    ev = s.ctl_json("events", "--since", "1h")["events"]
    assert any(e["type"] == "test" and e.get("sensor") == "smoke-101" for e in ev)
    # outside the tested zone and after the test, detectors work as always
    m = s.probe.mark()
    s.report("smoke-102", SMOKE)
    s.wait_alarm(since=m, state="raised", sensor="smoke-102")


def test_arming_is_refused_while_a_door_is_open_and_lists_it(running_site):
    s = running_site
    s.report("door-main", {"contact": False})  # open
    wait_until(lambda: any(x["id"] == "door-main" and x["state"] == "open"
                           for x in s.ctl_json("sensors")["sensors"]),
               what="the open door in the sensors list")
    r = s.ctl("arm", "away")
    assert r.returncode == 1
    assert "door-main" in r.stderr and "--force" in r.stderr
    assert s.status()["mode"] == "disarmed"


def test_forced_arming_bypasses_the_open_door_until_disarm(running_site):
    s = running_site
    s.report("door-main", {"contact": False})
    wait_until(lambda: any(x["id"] == "door-main" and x["state"] == "open"
                           for x in s.ctl_json("sensors")["sensors"]),
               what="the open door in the sensors list")
    r = s.ctl("arm", "night", "--force", "--by", "Lan")
    assert r.returncode == 0, r.stderr
    st = s.status()
    assert st["mode"] == "armed_night"
    assert st["bypassed"] == ["door-main"]
    wait_until(lambda: any("bypasses" in (e.get("detail") or "")
                           for e in s.ctl_json("events", "--since", "1h")["events"]),
               what="the forced arming in the event log")
    assert s.ctl("disarm").returncode == 0
    st = s.status()
    assert st["mode"] == "disarmed" and st["bypassed"] == []


def test_arm_with_an_unknown_mode_is_refused(running_site):
    s = running_site
    r = s.ctl("arm", "holiday")
    assert r.returncode == 1
    assert "unknown mode" in r.stderr
    assert s.status()["mode"] == "disarmed"


def test_sensors_lists_state_link_and_battery(running_site):
    s = running_site
    s.report("smoke-102", {"smoke": False, "battery": 64})
    wait_until(lambda: find_alarm(s.ctl_json("sensors", "--zone", "room-102")["sensors"],
                                  id="smoke-102", battery=64),
               what="smoke-102 with its battery")
    one = s.ctl_json("sensors", "--zone", "room-102")["sensors"]
    assert [x["id"] for x in one] == ["smoke-102"]
    assert one[0]["state"] == "clear" and one[0]["link"] == "online"
    assert one[0]["zone_name"] == "Phòng 102"
    r = s.ctl("sensors")
    assert r.returncode == 0 and "smoke-102" in r.stdout and "64%" in r.stdout
    r = s.ctl("sensors", "--zone", "room-999")
    assert r.returncode == 1 and "unknown zone" in r.stderr
