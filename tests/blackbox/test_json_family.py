"""The generic JSON family: an ESPHome smoke sensor (plain ON/OFF on its own
topic, birth/will on esp/status), an ESP32 sketch with nested JSON and an
ESPHome siren switch, on a real broker."""

import pytest

from helpers import wait_until

ESP_SMOKE = "esp-101/binary_sensor/smoke/state"
ESP_TEMP = "esp-101/sensor/temperature/state"
ESP_STATUS = "esp-101/status"
ESP32 = "house/esp32-kitchen"
ESP32_LWT = "house/esp32-kitchen/lwt"
SIREN = "esp-hall/switch/siren/command"


def json_site(site):
    site.config["sensors"] = [
        {"id": "esp-smoke", "name": "Báo khói ESPHome 101", "kind": "smoke",
         "zone": "room-101",
         "mqtt": {"format": "json", "topic": ESP_SMOKE,
                  "points": [{"point": "detected"},
                             {"point": "temperature", "topic": ESP_TEMP}],
                  "availability": {"topic": ESP_STATUS}}},
        {"id": "esp32-kitchen", "name": "Báo nhiệt ESP32 bếp", "kind": "heat",
         "zone": "kitchen",
         "mqtt": {"format": "json", "topic": ESP32,
                  "points": [{"point": "detected", "path": "alarm.heat"},
                             {"point": "temperature", "path": "env.t"}],
                  "availability": {"topic": ESP32_LWT, "online": "alive",
                                   "offline": "dead"}}},
    ]
    site.config["outputs"] = [
        {"id": "siren-hall", "kind": "siren", "zone": "hall",
         "mqtt": {"format": "json", "topic": SIREN}},
    ]
    # ESPHome's birth message and the sketch's LWT are retained.
    site.probe.publish(ESP_STATUS, "online", retain=True)
    site.probe.publish(ESP32_LWT, "alive", retain=True)
    site.start()
    wait_until(lambda: site.status()["sensors"]["online"] == 2, what="both sensors online")
    return site


@pytest.fixture
def esp_site(site):
    return json_site(site)


def sensor(site, sid):
    for s in site.ctl_json("sensors")["sensors"]:
        if s["id"] == sid:
            return s
    raise KeyError(sid)


def test_esphome_smoke_on_raises_fire_alarm_and_sounds_sirens(esp_site):
    s = esp_site
    m = s.probe.mark()
    s.probe.publish(ESP_SMOKE, "ON")
    a = s.wait_alarm(since=m, state="raised")[0]
    assert a["class"] == "fire" and a["sensor"] == "esp-smoke"
    assert a["rule"] == "smoke raises the fire alarm"
    s.probe.wait_for(SIREN, since=m, pred=lambda msg: msg.payload == b"ON",
                     what="ON on the ESPHome siren switch")


def test_esp32_nested_temperature_raises_the_heat_rule(esp_site):
    s = esp_site
    m = s.probe.mark()
    s.probe.publish(ESP32, {"alarm": {"heat": False}, "env": {"t": 61.5, "h": 40}})
    a = s.wait_alarm(since=m, state="raised")[0]
    assert a["class"] == "fire" and a["sensor"] == "esp32-kitchen"
    assert a["rule"] == "kitchen heat is a fire"
    assert sensor(s, "esp32-kitchen")["values"]["temperature"] == 61.5
    s.probe.wait_for(SIREN, since=m, pred=lambda msg: msg.payload == b"ON",
                     what="ON on the ESPHome siren switch")


def test_esphome_status_offline_marks_the_sensor_offline(esp_site):
    s = esp_site
    s.probe.publish(ESP_STATUS, "offline", retain=True)
    wait_until(lambda: s.status()["sensors"]["offline"] == 1, what="one sensor offline")
    assert sensor(s, "esp-smoke")["link"] == "offline"
    assert sensor(s, "esp32-kitchen")["link"] == "online"
    s.probe.publish(ESP_STATUS, "online", retain=True)
    wait_until(lambda: s.status()["sensors"]["offline"] == 0, what="no sensor offline")
    assert sensor(s, "esp-smoke")["link"] == "online"


def test_esphome_temperature_string_is_read_as_a_number(esp_site):
    s = esp_site
    s.probe.publish(ESP_TEMP, "23.50")
    wait_until(lambda: sensor(s, "esp-smoke")["values"].get("temperature") == 23.5,
               what="esp-smoke temperature 23.5")


BAD = [
    ("word_not_on_or_off", ESP_SMOKE, b"MAYBE"),
    ("not_json_on_a_path", ESP32, b"{\"alarm\": {\"heat\": tru"),
    ("wrong_type_on_a_path", ESP32, b"{\"alarm\": {\"heat\": \"hot\"}}"),
    ("temperature_out_of_range", ESP_TEMP, b"900"),
    ("nan_temperature", ESP_TEMP, b"nan"),
    ("unknown_availability_word", ESP_STATUS, b"sleeping"),
]


@pytest.mark.parametrize("name,topic,payload", BAD, ids=[b[0] for b in BAD])
def test_bad_payload_is_counted_and_changes_nothing(esp_site, name, topic, payload):
    s = esp_site
    before_total = s.rejected_total()
    before = {sid: sensor(s, sid) for sid in ("esp-smoke", "esp32-kitchen")}
    m = s.probe.mark()
    s.probe.publish(topic, payload)
    wait_until(lambda: s.rejected_total() == before_total + 1,
               what=f"{name} to be counted as rejected")
    s.barrier()
    assert s.alive(), "safehoused died"
    assert s.alarms() == [], f"{name} raised an alarm: {s.alarms()}"
    assert s.alarm_msgs(since=m) == []
    assert s.probe.select(SIREN, since=m) == []
    for sid, was in before.items():
        now = sensor(s, sid)
        assert (now["state"], now["link"], now["values"]) == (
            was["state"], was["link"], was["values"]), f"{name} changed {sid}"
    assert "ingest: " + topic in s.log(), "the reject is not logged with its topic"
