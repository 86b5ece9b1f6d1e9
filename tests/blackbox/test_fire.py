"""Fire: the siren, the militia's feed, the alerts, latching and reset."""

import datetime as dt

import pytest

from helpers import (ADDRESS, ALARM_FIELDS, ALERT_FIELDS, AT_RE, GEO, SITE_ID, find_alarm,
                     wait_until)

SMOKE = {"smoke": True, "battery": 97, "battery_low": False, "tamper": False,
         "linkquality": 132, "voltage": 3000, "test": False}
CLEAR = dict(SMOKE, smoke=False)


def check_at(at):
    assert isinstance(at, str) and AT_RE.match(at), f"`at` is not RFC 3339 UTC with ms: {at!r}"
    t = dt.datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    now = dt.datetime.now(dt.timezone.utc)
    # Same machine, same clock: a sanity check that it is UTC, not a timing.
    assert abs((now - t).total_seconds()) < 3600, f"`at` {at} is not the current UTC time"


def check_geo(geo):
    assert isinstance(geo, dict) and set(geo) == {"lat", "lon"}, geo
    assert geo["lat"] == pytest.approx(GEO["lat"], abs=1e-6)
    assert geo["lon"] == pytest.approx(GEO["lon"], abs=1e-6)


def test_smoke_sends_fire_siren_command(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    cmd = s.wait_siren("fire", since=m)
    w = cmd["warning"]
    assert w["mode"] == "fire"
    assert w["level"] == "very_high"
    assert w["strobe"] is True
    assert w["duration"] == 300  # the output's duration_s


def test_smoke_publishes_alarm_with_every_contract_field(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    a = s.wait_alarm(since=m, state="raised")[0]
    assert set(a) == ALARM_FIELDS
    assert a["site"] == SITE_ID
    assert isinstance(a["id"], int) and not isinstance(a["id"], bool)
    assert isinstance(a["seq"], int) and not isinstance(a["seq"], bool)
    assert a["class"] == "fire"
    assert a["state"] == "raised"
    assert a["zone"] == "room-101"
    assert a["zone_name"] == "Phòng 101"
    assert a["sensor"] == "smoke-101"
    assert a["rule"] == "smoke raises the fire alarm"
    assert isinstance(a["message"], str)
    assert a["address"] == ADDRESS
    check_geo(a["geo"])
    check_at(a["at"])
    # QoS 1, as the contract says.
    msg = s.probe.select(s.topic("alarm"), m)[0]
    assert msg.qos == 1


def test_smoke_alerts_militia_and_owner(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    alarm = s.wait_alarm(since=m, state="raised")[0]
    for contact in ("militia", "owner"):
        al = s.wait_alert(since=m, to=contact)[0]
        assert set(al) == ALERT_FIELDS
        assert al["site"] == SITE_ID
        assert isinstance(al["id"], int)
        assert isinstance(al["seq"], int)
        assert al["alarm"] == alarm["id"]
        assert al["priority"] in ("low", "normal", "urgent")
        assert al["class"] == "fire"
        assert al["zone"] == "room-101"
        assert al["zone_name"] == "Phòng 101"
        assert isinstance(al["message"], str) and al["message"].strip()
        assert al["address"] == ADDRESS
        check_geo(al["geo"])
        check_at(al["at"])
    s.barrier()
    alerts = s.alert_msgs(since=m)
    assert sorted(a["to"] for a in alerts) == ["militia", "owner"], alerts


def test_seq_grows_across_alarm_and_alert_messages(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    s.wait_alert(since=m, to="owner")
    s.report("smoke-102", SMOKE)
    s.wait_alarm(since=m, zone="room-102", state="raised")
    s.wait_alert(since=m, zone="room-102", to="owner")
    feed = [msg.json() for msg in s.probe.select(since=m)
            if msg.topic in (s.topic("alarm"), s.topic("alert"))]
    seqs = [d["seq"] for d in feed]
    assert len(feed) >= 6, feed
    assert all(b > a for a, b in zip(seqs, seqs[1:])), f"seq not strictly increasing: {seqs}"
    alarm_ids = {d["id"] for d in feed if "state" in d}
    assert len(alarm_ids) == 2, "two zones must give two distinct alarm ids"


def test_alarm_geo_is_null_when_site_has_no_geo(site):
    del site.config["site"]["geo"]
    site.start()
    m = site.probe.mark()
    site.report("smoke-101", SMOKE)
    a = site.wait_alarm(since=m, state="raised")[0]
    assert "geo" in a and a["geo"] is None


def test_repeated_smoke_report_raises_no_second_alarm_nor_siren_command(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    s.wait_siren("fire", since=m)
    s.wait_alarm(since=m, state="raised")
    s.wait_alert(since=m, to="owner")
    for _ in range(5):
        s.report("smoke-101", SMOKE)
    s.barrier()
    assert len(s.alarm_msgs(since=m, state="raised")) == 1
    assert len(s.alert_msgs(since=m)) == 2
    assert len(s.siren_cmds(since=m)) == 1, s.siren_cmds(since=m)
    active = [a for a in s.alarms() if a["class"] == "fire"]
    assert len(active) == 1, active


def test_fire_alarm_latches_after_smoke_clears(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    raised = s.wait_alarm(since=m, state="raised")[0]
    s.wait_siren("fire", since=m)
    s.report("smoke-101", CLEAR)
    cleared = s.wait_alarm(since=m, state="cleared")[0]
    assert cleared["id"] == raised["id"]
    assert cleared["seq"] > raised["seq"]
    s.barrier()
    a = find_alarm(s.alarms(), id=raised["id"])
    assert a is not None, "a fire alarm must stay active after its smoke clears"
    assert a["class"] == "fire"
    stops = [c for c in s.siren_cmds(since=m) if c["warning"]["mode"] == "stop"]
    assert stops == [], "the siren must keep sounding until the fire alarm is reset"


def test_reset_after_smoke_clears_publishes_reset_and_stops_siren(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    raised = s.wait_alarm(since=m, state="raised")[0]
    s.report("smoke-101", CLEAR)
    s.wait_alarm(since=m, state="cleared")
    r = s.ctl("reset", raised["id"], "--by", "chu-nha")
    assert r.returncode == 0, r.stderr
    reset = s.wait_alarm(since=m, state="reset")[0]
    assert reset["id"] == raised["id"]
    assert set(reset) >= {"site", "id", "seq", "class", "state", "at"}
    s.wait_siren("stop", since=m)
    assert find_alarm(s.alarms(), id=raised["id"]) is None


def test_reset_refused_while_smoke_persists(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    raised = s.wait_alarm(since=m, state="raised")[0]
    wait_until(lambda: find_alarm(s.alarms(), id=raised["id"]), what="the alarm in `alarms`")
    r = s.ctl("reset", raised["id"], "--by", "chu-nha")
    assert r.returncode == 1, f"exit {r.returncode}, stdout {r.stdout!r} stderr {r.stderr!r}"
    assert r.stderr.strip(), "a refused command must say why on stderr"
    s.barrier()
    assert find_alarm(s.alarms(), id=raised["id"]) is not None
    assert s.alarm_msgs(since=m, state="reset") == []
    stops = [c for c in s.siren_cmds(since=m) if c["warning"]["mode"] == "stop"]
    assert stops == []


def test_latched_fire_alarm_survives_a_restart(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    raised = s.wait_alarm(since=m, state="raised")[0]
    s.report("smoke-101", CLEAR)
    s.wait_alarm(since=m, state="cleared")
    assert s.stop() == 0
    s.start()
    a = find_alarm(s.alarms(), id=raised["id"])
    assert a is not None, "a restart is not a reset: the latched fire alarm must stay active"


def test_kitchen_heat_above_threshold_raises_fire(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("heat-kitchen", {"temperature": 31.5, "battery": 90})
    s.report("heat-kitchen", {"temperature": 64.0, "battery": 90})
    a = s.wait_alarm(since=m, state="raised")[0]
    assert a["class"] == "fire" and a["zone"] == "kitchen" and a["sensor"] == "heat-kitchen"
    assert a["rule"] == "kitchen heat is a fire"
    s.wait_siren("fire", since=m)


def test_gas_leak_sounds_emergency_pattern(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("gas-kitchen", {"gas": True, "linkquality": 80})
    a = s.wait_alarm(since=m, state="raised")[0]
    assert a["class"] == "gas" and a["zone"] == "kitchen"
    s.wait_siren("emergency", since=m)


def test_two_detectors_in_one_zone_give_one_fire_alarm(site):
    site.config["sensors"].append(
        {"id": "smoke-101b", "name": "Báo khói phòng 101 (2)", "kind": "smoke",
         "zone": "room-101", "mqtt": {"topic": "zigbee2mqtt/smoke_101b",
                                      "format": "zigbee2mqtt"}})
    site.start()
    m = site.probe.mark()
    site.report("smoke-101", SMOKE)
    site.wait_alarm(since=m, state="raised")
    site.report("smoke-101b", SMOKE)
    site.barrier()
    assert len(site.alarm_msgs(since=m, state="raised")) == 1
    assert len([a for a in site.alarms() if a["class"] == "fire"]) == 1


def test_alarm_message_is_the_rule_text(site):
    site.rules = {"site.rules": """\
rule "smoke with a message"
when smoke becomes detected
then
  alarm fire "Phát hiện khói trong phòng"
  siren on fire
end
"""}
    site.start()
    m = site.probe.mark()
    site.report("smoke-102", SMOKE)
    a = site.wait_alarm(since=m, state="raised")[0]
    assert a["message"] == "Phát hiện khói trong phòng"
    assert a["rule"] == "smoke with a message"


def test_siren_stops_only_when_the_last_fire_alarm_is_reset(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    a1 = s.wait_alarm(since=m, state="raised", zone="room-101")[0]
    s.report("smoke-102", SMOKE)
    a2 = s.wait_alarm(since=m, state="raised", zone="room-102")[0]
    s.report("smoke-101", CLEAR)
    s.report("smoke-102", CLEAR)
    s.wait_alarm(since=m, state="cleared", id=a1["id"])
    s.wait_alarm(since=m, state="cleared", id=a2["id"])
    assert s.ctl("reset", a1["id"]).returncode == 0
    s.wait_alarm(since=m, state="reset", id=a1["id"])
    s.barrier()
    stops = [c for c in s.siren_cmds(since=m) if c["warning"]["mode"] == "stop"]
    assert stops == [], "another fire alarm is still active: the siren must keep sounding"
    assert s.ctl("reset", a2["id"]).returncode == 0
    s.wait_alarm(since=m, state="reset", id=a2["id"])
    s.wait_siren("stop", since=m)


def test_heat_alarm_clears_only_below_the_clear_threshold(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("heat-kitchen", {"temperature": 30.0})
    s.report("heat-kitchen", {"temperature": 64.0})
    raised = s.wait_alarm(since=m, state="raised")[0]
    for t in (58.0, 55.5, 52.0, 60.0, 51.0):  # "clear below 50": still hot
        s.report("heat-kitchen", {"temperature": t})
    s.barrier()
    assert s.alarm_msgs(since=m, state="cleared") == []
    s.report("heat-kitchen", {"temperature": 45.0})
    cleared = s.wait_alarm(since=m, state="cleared")[0]
    assert cleared["id"] == raised["id"]
    assert len(s.alarm_msgs(since=m, state="raised")) == 1
