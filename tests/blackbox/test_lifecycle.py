"""Alarm lifecycle commands: acknowledge (control socket and the militia's
MQTT ack), silence and resound, with bad commands changing nothing."""

import json

from helpers import find_alarm, wait_until

SMOKE = {"smoke": True, "battery": 97}


def raise_fire(s, sensor="smoke-101"):
    m = s.probe.mark()
    s.report(sensor, SMOKE)
    return s.wait_alarm(since=m, state="raised", sensor=sensor)[0]


def test_ack_records_who_and_publishes_acknowledged(running_site):
    s = running_site
    a = raise_fire(s)
    m = s.probe.mark()
    r = s.ctl("ack", a["id"], "--by", "Lan")
    assert r.returncode == 0, r.stderr
    fed = s.wait_alarm(since=m, id=a["id"], state="acknowledged")[0]
    assert fed["class"] == "fire"
    active = find_alarm(s.alarms(), id=a["id"])
    assert active["state"] == "acknowledged"
    assert active["acknowledged_by"] == "Lan"


def test_ack_of_an_unknown_alarm_is_refused_and_changes_nothing(running_site):
    s = running_site
    a = raise_fire(s)
    m = s.probe.mark()
    r = s.ctl("ack", a["id"] + 100)
    assert r.returncode == 1
    assert "no active alarm" in r.stderr
    s.barrier()
    assert s.alarm_msgs(since=m) == []
    assert find_alarm(s.alarms(), id=a["id"])["state"] == "raised"


def test_silence_stops_the_sirens_but_keeps_the_alarm_active(running_site):
    s = running_site
    a = raise_fire(s)
    s.wait_siren("fire")
    m = s.probe.mark()
    r = s.ctl("silence", "--by", "Lan")
    assert r.returncode == 0, r.stderr
    s.wait_siren("stop", since=m)
    s.wait_alarm(since=m, id=a["id"], state="silenced")
    assert find_alarm(s.alarms(), id=a["id"])["state"] == "silenced"


def test_new_alarm_in_another_zone_sounds_the_silenced_sirens_again(running_site):
    s = running_site
    raise_fire(s, "smoke-101")
    m = s.probe.mark()
    assert s.ctl("silence").returncode == 0
    s.wait_siren("stop", since=m)
    m = s.probe.mark()
    raise_fire(s, "smoke-102")
    s.wait_siren("fire", since=m)


def test_militia_ack_over_mqtt_acknowledges_the_alarm(running_site):
    s = running_site
    a = raise_fire(s)
    m = s.probe.mark()
    s.probe.publish(s.topic("ack"), json.dumps({"alarm": a["id"], "by": "Dân quân Tuấn"}))
    fed = s.wait_alarm(since=m, id=a["id"], state="acknowledged")[0]
    assert fed["zone"] == "room-101"
    wait_until(lambda: find_alarm(s.alarms(), id=a["id"]).get("acknowledged_by")
               == "militia:Dân quân Tuấn", what="the ack recorded with the militia's name")


def test_malformed_militia_ack_changes_nothing(running_site):
    s = running_site
    a = raise_fire(s)
    m = s.probe.mark()
    for bad in (b"not json", b"[]", b'{"alarm":"one"}', b'{"alarm":-4}', b'{"alarm":1.5}',
                b'{"alarm":1,"by":7}', b"", b"\xff\xfe"):
        s.probe.publish(s.topic("ack"), bad)
    s.barrier()
    assert s.alarm_msgs(since=m) == []
    assert s.alive()
    assert find_alarm(s.alarms(), id=a["id"])["state"] == "raised"
