"""Home Assistant MQTT discovery: the gateway appears in Home Assistant by
itself, with payloads that follow Home Assistant's documented schema for
alarm_control_panel and binary_sensor (MQTT integration)."""

import json

from helpers import MqttProbe, wait_until

# From Home Assistant's MQTT alarm_control_panel and binary_sensor docs.
PANEL_KEYS = {"availability", "availability_mode", "availability_template",
              "availability_topic", "code", "code_arm_required", "code_disarm_required",
              "code_trigger_required", "command_template", "command_topic", "device",
              "enabled_by_default", "encoding", "entity_category", "icon",
              "json_attributes_template", "json_attributes_topic", "name", "object_id",
              "payload_arm_away", "payload_arm_custom_bypass", "payload_arm_home",
              "payload_arm_night", "payload_arm_vacation", "payload_available",
              "payload_disarm", "payload_not_available", "payload_trigger", "qos", "retain",
              "state_topic", "supported_features", "unique_id", "value_template"}
PANEL_FEATURES = {"arm_home", "arm_away", "arm_night", "arm_vacation", "arm_custom_bypass",
                  "trigger"}
SENSOR_KEYS = {"availability", "availability_mode", "availability_template",
               "availability_topic", "device", "device_class", "enabled_by_default",
               "encoding", "entity_category", "expire_after", "force_update", "icon",
               "json_attributes_template", "json_attributes_topic", "name", "object_id",
               "off_delay", "payload_available", "payload_not_available", "payload_off",
               "payload_on", "qos", "state_topic", "unique_id", "value_template"}
BINARY_SENSOR_CLASSES = {"battery", "battery_charging", "carbon_monoxide", "cold",
                         "connectivity", "door", "garage_door", "gas", "heat", "light",
                         "lock", "moisture", "motion", "moving", "occupancy", "opening",
                         "plug", "power", "presence", "problem", "running", "safety", "smoke",
                         "sound", "tamper", "update", "vibration", "window"}
PANEL_STATES = {"disarmed", "armed_home", "armed_away", "armed_night", "armed_vacation",
                "armed_custom_bypass", "pending", "triggered", "arming", "disarming"}


def discovery(s):
    wait_until(lambda: s.probe.select("homeassistant/alarm_control_panel/test-site/panel/config"),
               what="the panel's discovery message")
    wait_until(lambda: len(s.probe.select(pred=lambda m: m.topic.startswith(
        "homeassistant/binary_sensor/"))) >= len(s.config["sensors"]),
        what="a discovery message per sensor")
    panel = s.probe.select("homeassistant/alarm_control_panel/test-site/panel/config")[-1]
    sensors = {m.topic: m for m in s.probe.select(
        pred=lambda m: m.topic.startswith("homeassistant/binary_sensor/"))}
    return panel, sensors


def test_panel_discovery_follows_the_alarm_control_panel_schema(running_site):
    panel, _ = discovery(running_site)
    p = panel.json()
    assert set(p) <= PANEL_KEYS, set(p) - PANEL_KEYS
    assert p["command_topic"] and p["state_topic"]
    assert p["code"] == "REMOTE_CODE" and p["code_arm_required"] is True
    assert set(p["supported_features"]) <= PANEL_FEATURES
    assert p["unique_id"] and p["device"]["identifiers"]
    for a in p["availability"]:
        assert set(a) <= {"topic", "payload_available", "payload_not_available",
                          "value_template"} and a["topic"]


def test_every_sensor_is_a_binary_sensor_with_a_valid_device_class(running_site):
    s = running_site
    _, sensors = discovery(s)
    kinds = {x["id"]: x["kind"] for x in s.config["sensors"]}
    for topic, m in sensors.items():
        if topic.endswith("/gateway_fault/config"):
            continue
        c = m.json()
        assert set(c) <= SENSOR_KEYS, set(c) - SENSOR_KEYS
        assert c.get("device_class") in BINARY_SENSOR_CLASSES
        assert c["payload_on"] == "ON" and c["payload_off"] == "OFF"
        sensor_id = topic.split("/")[3]
        assert sensor_id in kinds
        assert c["availability_mode"] == "all" and len(c["availability"]) == 2
    by_id = {t.split("/")[3]: m.json() for t, m in sensors.items()}
    assert by_id["smoke-101"]["device_class"] == "smoke"
    assert by_id["door-main"]["device_class"] == "door"
    assert by_id["gas-kitchen"]["device_class"] == "gas"


def test_gateway_faults_are_a_problem_sensor_that_turns_on_with_a_fault(running_site):
    s = running_site
    _, sensors = discovery(s)
    c = sensors["homeassistant/binary_sensor/test-site/gateway_fault/config"].json()
    assert set(c) <= SENSOR_KEYS, set(c) - SENSOR_KEYS
    assert c["device_class"] == "problem"
    state = s.probe.wait_for(c["state_topic"], what="the gateway state")[-1]
    assert state.json()["fault"] == "OFF" and state.json()["store"] == "ok"
    m = s.probe.mark()
    s.availability("smoke-102", {"state": "offline"})
    s.probe.wait_for(c["state_topic"], since=m, pred=lambda x: x.json()["fault"] == "ON",
                     what="the gateway fault sensor on with a sensor offline")


def test_states_are_published_where_discovery_says(running_site):
    s = running_site
    panel, sensors = discovery(s)
    p = panel.json()
    wait_until(lambda: s.probe.select(p["state_topic"]), what="the panel state")
    assert s.probe.select(p["state_topic"])[-1].payload.decode() in PANEL_STATES
    smoke = [m.json() for t, m in sensors.items() if "/smoke-101/" in t][0]
    m = s.probe.mark()
    s.report("smoke-101", {"smoke": True})
    got = s.probe.wait_for(smoke["state_topic"], since=m, what="smoke-101 ON")[0]
    assert got.payload == b"ON"
    wait_until(lambda: s.probe.select(p["state_topic"], m)
               and s.probe.select(p["state_topic"], m)[-1].payload == b"triggered",
               what="the panel triggered by the fire")


def test_home_assistant_starting_later_finds_everything_retained(running_site):
    s = running_site
    discovery(s)
    s.report("smoke-101", {"smoke": True})
    wait_until(lambda: s.probe.select("safehouse/test-site/sensor/smoke-101/state"),
               what="smoke-101's state")
    late = MqttProbe(s.broker.port, topics=["homeassistant/#", "safehouse/test-site/panel/#",
                                             "safehouse/test-site/sensor/#"]).connect()
    try:
        late.wait_for("homeassistant/alarm_control_panel/test-site/panel/config",
                      pred=lambda m: m.retain, what="the retained panel config")
        late.wait_for("safehouse/test-site/sensor/smoke-101/state",
                      pred=lambda m: m.retain and m.payload == b"ON",
                      what="the retained sensor state")
        late.wait_for("safehouse/test-site/panel/state", pred=lambda m: m.retain,
                      what="the retained panel state")
    finally:
        late.close()


def test_arming_from_home_assistant_needs_the_users_code(running_site):
    s = running_site
    import subprocess
    from helpers import SAFEHOUSECTL
    r = subprocess.run([SAFEHOUSECTL, "-s", s.socket_path, "users", "add", "Lan", "--role",
                        "owner", "--pin-stdin"], input="2468\n", capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    panel, _ = discovery(s)
    p = panel.json()
    s.probe.publish(p["command_topic"], json.dumps({"action": "ARM_AWAY", "code": "1111"}))
    s.barrier()
    assert s.status()["mode"] == "disarmed"
    m = s.probe.mark()
    s.probe.publish(p["command_topic"], json.dumps({"action": "ARM_AWAY", "code": "2468"}))
    s.probe.wait_for(p["state_topic"], since=m, pred=lambda x: x.payload == b"armed_away",
                     what="armed_away on the panel's state topic")
    assert s.status()["mode"] == "armed_away"


def test_discovery_can_be_switched_off(site):
    site.config["homeassistant"] = {"enabled": False}
    s = site.start()
    s.barrier()
    assert s.probe.select(pred=lambda m: m.topic.startswith("homeassistant/")) == []
