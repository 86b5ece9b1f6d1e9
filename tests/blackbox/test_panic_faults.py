"""Panic buttons, tamper and sensor availability faults."""

import pytest

from helpers import find_alarm, wait_until


@pytest.mark.parametrize("payload", [{"action": "emergency"}, {"sos": True}],
                         ids=["action_emergency", "sos_true"])
def test_panic_press_sends_urgent_alert_to_militia_without_siren(running_site, payload):
    s = running_site
    m = s.probe.mark()
    s.report("panic-hall", payload)
    alarm = s.wait_alarm(since=m, state="raised")[0]
    assert alarm["class"] == "panic" and alarm["zone"] == "hall"
    assert alarm["sensor"] == "panic-hall"
    alert = s.wait_alert(since=m, to="militia")[0]
    assert alert["priority"] == "urgent"
    assert alert["alarm"] == alarm["id"]
    assert alert["class"] == "panic"
    s.barrier()
    assert s.siren_cmds(since=m) == [], "a silent panic alarm must not sound the siren"
    assert [a["to"] for a in s.alert_msgs(since=m)] == ["militia"]


def test_tamper_raises_tamper_alarm(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("door-main", {"contact": True, "tamper": False, "battery": 88})
    s.report("door-main", {"contact": True, "tamper": True, "battery": 88})
    a = s.wait_alarm(since=m, state="raised")[0]
    assert a["class"] == "tamper" and a["sensor"] == "door-main"


OFFLINE_FORMS = {
    "json": ({"state": "offline"}, {"state": "online"}),
    "plain": (b"offline", b"online"),
}


@pytest.mark.parametrize("form", sorted(OFFLINE_FORMS))
def test_sensor_going_offline_raises_fault_and_online_clears_it(running_site, form):
    s = running_site
    offline, online = OFFLINE_FORMS[form]
    # The sensor is known online first (the retained availability the site
    # published before the daemon started): going offline is a change.
    s.availability("smoke-102", online)
    wait_until(lambda: s.status()["sensors"]["offline"] == 0, what="no sensor offline")
    m = s.probe.mark()
    s.availability("smoke-102", offline)
    raised = s.wait_alarm(since=m, state="raised")[0]
    assert raised["class"] == "fault"
    assert raised["sensor"] == "smoke-102"
    assert raised["zone"] == "room-102"
    wait_until(lambda: find_alarm(s.alarms(), id=raised["id"]), what="the fault in `alarms`")
    wait_until(lambda: s.status()["sensors"]["offline"] == 1, what="status counting 1 offline")

    s.availability("smoke-102", online)
    cleared = s.wait_alarm(since=m, state="cleared")[0]
    assert cleared["id"] == raised["id"]
    wait_until(lambda: find_alarm(s.alarms(), id=raised["id"]) is None,
               what="the fault to leave the active alarms once the sensor is back")
    s.barrier()
    assert s.siren_cmds(since=m) == [], "a fault must not sound the siren"


def test_fault_is_counted_in_retained_status(running_site):
    s = running_site
    m = s.probe.mark()
    s.availability("door-main", {"state": "offline"})
    s.wait_alarm(since=m, state="raised", **{"class": "fault"})
    st = s.probe.wait_for(s.topic("status"), since=m,
                          pred=lambda msg: msg.json().get("faults") == 1,
                          what="retained status with faults: 1")[0]
    assert st.json()["online"] is True


def test_sensor_already_offline_at_start_raises_fault(site):
    site.probe.publish("zigbee2mqtt/smoke_102/availability", {"state": "offline"},
                       retain=True)
    site.start(sensors_online=False)
    a = site.wait_alarm(state="raised", sensor="smoke-102")[0]
    assert a["class"] == "fault"


def test_sensor_silent_longer_than_supervision_raises_fault(site):
    for s in site.config["sensors"]:
        if s["id"] == "smoke-102":
            s["supervision_s"] = 2
    site.start()
    m = site.probe.mark()
    site.report("smoke-102", {"smoke": False, "battery": 90})
    # Then the detector falls silent (dead battery, out of range). Its
    # zigbee2mqtt availability still says online: only the gateway's own
    # supervision can tell.
    got = site.probe.wait_for(
        site.topic("alarm"), since=m, timeout=2 + 10,
        pred=lambda msg: msg.json()["sensor"] == "smoke-102"
        and msg.json()["class"] in ("fault", "supervisory"),
        what="a fault or supervisory alarm for the silent smoke-102")
    assert got[0].json()["state"] == "raised"
