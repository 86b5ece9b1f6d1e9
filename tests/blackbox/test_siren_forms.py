"""Siren command forms: a Tuya TS0601 siren that has no "warning" converter
(NEO NAS-AB02B2) is driven with its own "alarm" keys, on a fire and on its
stop, and a wrong form is refused at start with where and why."""

from helpers import find_alarm

SMOKE = {"smoke": True, "battery": 97, "battery_low": False, "tamper": False}
CLEAR = dict(SMOKE, smoke=False)
NEO_TOPIC = "zigbee2mqtt/siren_neo/set"


def add_neo_siren(site):
    site.config["outputs"].append(
        {"id": "siren-neo", "kind": "siren", "zone": "room-101", "duration_s": 600,
         "mqtt": {"topic": NEO_TOPIC, "format": "zigbee2mqtt", "siren": "tuya-alarm-bool"}})


def wait_neo(s, since, alarm):
    return s.probe.wait_for(NEO_TOPIC, since=since,
                            pred=lambda m: m.json().get("alarm") is alarm,
                            what=f"NEO siren command with alarm {alarm}")[0].json()


def raise_fire(s, m):
    s.report("smoke-101", SMOKE)
    return s.wait_alarm(since=m, state="raised")[0]


def test_tuya_alarm_bool_siren_sounds_on_fire_with_its_own_keys(site):
    add_neo_siren(site)
    s = site.start()
    m = s.probe.mark()
    raise_fire(s, m)
    cmd = wait_neo(s, m, True)
    # alarm alone: NEO's converter takes one key per message.
    assert cmd == {"alarm": True}
    # The default-form siren beside it still gets the warning composite.
    assert s.wait_siren("fire", since=m)["warning"]["duration"] == 300


def test_tuya_alarm_bool_siren_stops_on_reset(site):
    add_neo_siren(site)
    s = site.start()
    m = s.probe.mark()
    raised = raise_fire(s, m)
    wait_neo(s, m, True)
    s.report("smoke-101", CLEAR)
    s.wait_alarm(since=m, state="cleared")
    r = s.ctl("reset", raised["id"], "--by", "chu-nha")
    assert r.returncode == 0, r.stderr
    assert wait_neo(s, m, False) == {"alarm": False}
    assert find_alarm(s.alarms(), id=raised["id"]) is None


def test_tuya_alarm_bool_siren_stops_on_silence(site):
    add_neo_siren(site)
    s = site.start()
    m = s.probe.mark()
    raise_fire(s, m)
    wait_neo(s, m, True)
    m2 = s.probe.mark()
    assert s.ctl("silence", "--by", "chu-nha").returncode == 0
    assert wait_neo(s, m2, False) == {"alarm": False}
    s.barrier()
    # Silenced means silent: nothing after the stop turns it back on.
    assert [c for c in s.probe.select(NEO_TOPIC, m2) if c.json().get("alarm") is not False] == []


def test_unknown_siren_form_is_refused_at_start_with_a_suggestion(site):
    add_neo_siren(site)
    site.config["outputs"][-1]["mqtt"]["siren"] = "tuya-alarm-boll"
    site.start(wait=False)
    rc = site.wait_exit()
    assert rc != 0
    log = site.log()
    assert "outputs[1].mqtt.siren: unknown siren form \"tuya-alarm-boll\"; " \
           "did you mean \"tuya-alarm-bool\"?" in log, log
