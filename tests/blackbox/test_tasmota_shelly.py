"""Tasmota and Shelly Gen2 devices on a real mosquitto: the messages these
devices really publish raise and clear alarms, and keep supervision happy."""

import time

import pytest

from helpers import TIMEOUT, wait_until

TIME = "2024-02-24T22:20:38"
SHELLY = "shellyplussmoke-a8032ab12345"
RELAY_TOPIC = "cmnd/siren_relay/POWER"


def add_devices(site, supervision_s=None):
    """A Tasmota board with a smoke detector's contact on Switch1, one with
    a custom FullTopic, a second Tasmota board that stays silent, a Shelly
    Plus Smoke, and a Tasmota relay driving a siren."""
    extra = [
        {"id": "smoke-tas", "kind": "smoke", "zone": "room-101",
         "mqtt": {"topic": "smoke_tas", "format": "tasmota"}},
        {"id": "smoke-full", "kind": "smoke", "zone": "room-102",
         "mqtt": {"topic": "smoke_full", "format": "tasmota",
                  "full_topic": "tasmota/%topic%/%prefix%/"}},
        {"id": "smoke-quiet", "kind": "smoke", "zone": "room-102",
         "mqtt": {"topic": "smoke_quiet", "format": "tasmota"}},
        {"id": "smoke-shelly", "kind": "smoke", "zone": "room-102",
         "mqtt": {"topic": SHELLY, "format": "shelly"}},
    ]
    if supervision_s:
        for s in extra:
            if s["id"] in ("smoke-tas", "smoke-quiet"):
                s["supervision_s"] = supervision_s
    site.config["sensors"] += extra
    site.config["outputs"].append(
        {"id": "siren-relay", "kind": "siren", "zone": "hall",
         "mqtt": {"topic": RELAY_TOPIC, "format": "tasmota"}})


def start(site):
    # What the devices leave retained on the broker: Tasmota's LWT and the
    # Shelly's online flag.
    for t in ("tele/smoke_tas/LWT", "tasmota/smoke_full/tele/LWT", "tele/smoke_quiet/LWT"):
        site.probe.publish(t, b"Online", retain=True)
    site.probe.publish(f"{SHELLY}/online", b"true", retain=True)
    return site.start()


def sensor(site, sensor_id):
    reply = site.ctl_json("sensors")
    rows = reply.get("sensors", reply) if isinstance(reply, dict) else reply
    for r in rows:
        if r["id"] == sensor_id:
            return r
    raise KeyError(sensor_id)


def test_tasmota_switch1_on_raises_fire_and_sounds_every_siren(site):
    add_devices(site)
    s = start(site)
    m = s.probe.mark()
    s.probe.publish("tele/smoke_tas/SENSOR", {"Time": TIME, "Switch1": "ON"})
    a = s.wait_alarm(since=m, state="raised")[0]
    assert a["class"] == "fire" and a["sensor"] == "smoke-tas" and a["zone"] == "room-101"
    s.wait_siren("fire", since=m)
    s.probe.wait_for(RELAY_TOPIC, since=m, pred=lambda msg: msg.payload == b"ON",
                     what="ON on the Tasmota relay's command topic")


def test_tasmota_switch_off_is_clear_and_raises_nothing(site):
    add_devices(site)
    s = start(site)
    m = s.probe.mark()
    s.probe.publish("tele/smoke_tas/SENSOR", {"Time": TIME, "Switch1": "OFF"})
    wait_until(lambda: sensor(s, "smoke-tas")["state"] == "clear",
               what="smoke-tas reported clear")
    s.barrier()
    assert s.alarm_msgs(since=m) == []


def test_tasmota_sending_only_state_is_not_reported_offline(site):
    # 3 s: a STATE every 0.3 s stays well inside it even when the machine
    # is loaded (the suite runs several tests at a time).
    add_devices(site, supervision_s=3)
    s = start(site)
    m = s.probe.mark()
    # smoke-tas publishes tele/STATE (every TelePeriod on a real device)
    # and nothing else; smoke-quiet, with the same supervision, falls
    # silent. Its fault shows the supervision time has passed.
    deadline = time.monotonic() + TIMEOUT + 3
    quiet = []
    while not quiet and time.monotonic() < deadline:
        s.probe.publish("tele/smoke_tas/STATE",
                        {"Time": TIME, "Uptime": "0T00:05:12", "UptimeSec": 312,
                         "Heap": 27, "LoadAvg": 19, "POWER": "OFF",
                         "Wifi": {"AP": 1, "SSId": "nha-tro", "RSSI": 78}})
        time.sleep(0.3)
        quiet = s.alarm_msgs(since=m, sensor="smoke-quiet", state="raised")
    assert quiet, "the silent Tasmota sensor was never reported: supervision did not run"
    assert quiet[0]["class"] in ("fault", "supervisory")
    s.probe.publish("tele/smoke_tas/STATE", {"Time": TIME, "UptimeSec": 313})
    s.barrier()
    assert s.alarm_msgs(since=m, sensor="smoke-tas") == []
    assert sensor(s, "smoke-tas")["link"] == "online"


def test_tasmota_custom_full_topic_is_followed(site):
    add_devices(site)
    s = start(site)
    m = s.probe.mark()
    s.probe.publish("tasmota/smoke_full/tele/SENSOR", {"Time": TIME, "Switch1": "ON"})
    a = s.wait_alarm(since=m, state="raised")[0]
    assert a["class"] == "fire" and a["sensor"] == "smoke-full"


def test_tasmota_lwt_offline_raises_a_fault(site):
    add_devices(site)
    s = start(site)
    m = s.probe.mark()
    s.probe.publish("tele/smoke_tas/LWT", b"Offline", retain=True)
    a = s.wait_alarm(since=m, state="raised", sensor="smoke-tas")[0]
    assert a["class"] == "fault"


def notify_status(alarm):
    return {"src": SHELLY, "dst": f"{SHELLY}/events", "method": "NotifyStatus",
            "params": {"ts": 1700000000.12,
                       "smoke:0": {"id": 0, "alarm": alarm, "mute": False}}}


def test_shelly_plus_smoke_alarm_raises_fire_and_alarm_false_clears(site):
    add_devices(site)
    s = start(site)
    m = s.probe.mark()
    s.probe.publish(f"{SHELLY}/events/rpc", notify_status(True))
    a = s.wait_alarm(since=m, state="raised")[0]
    assert a["class"] == "fire" and a["sensor"] == "smoke-shelly"
    s.wait_siren("fire", since=m)
    s.probe.publish(f"{SHELLY}/events/rpc", notify_status(False))
    cleared = s.wait_alarm(since=m, state="cleared")[0]
    assert cleared["id"] == a["id"]
    assert sensor(s, "smoke-shelly")["state"] == "clear"


@pytest.mark.parametrize("topic,payload", [
    ("tele/smoke_tas/SENSOR", b"Switch1 ON"),
    ("tele/smoke_tas/SENSOR", b'{"Switch1":"MAYBE"}'),
    ("tele/smoke_tas/LWT", b"online"),
    (f"{SHELLY}/events/rpc", b'{"method":"NotifyStatus","params":{"smoke:0":{"alarm":"yes"}}}'),
    (f"{SHELLY}/online", b"1"),
], ids=["tasmota_not_json", "tasmota_bad_switch", "tasmota_lwt_case",
        "shelly_bad_alarm", "shelly_bad_online"])
def test_bad_device_messages_are_counted_and_change_nothing(site, topic, payload):
    add_devices(site)
    s = start(site)
    before = s.rejected_total()
    m = s.probe.mark()
    s.probe.publish(topic, payload)
    wait_until(lambda: s.rejected_total() > before, what="the message counted as rejected")
    s.barrier()
    assert s.alarm_msgs(since=m) == []
    assert s.alive()
