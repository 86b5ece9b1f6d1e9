"""Home Assistant MQTT discovery: the gateway appears in Home Assistant by
itself, with payloads that follow Home Assistant's documented schema for
alarm_control_panel and binary_sensor (MQTT integration)."""

import json
import signal

import pytest

from helpers import Broker, MqttProbe, free_port, wait_until
from modbus_helpers import start_modbus_site, tcp_bus, use_modbus

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


def test_panel_entity_has_its_own_name_not_its_devices(running_site):
    # Home Assistant warns about an entity named like its device and strips
    # the name.
    panel, _ = discovery(running_site)
    p = panel.json()
    assert isinstance(p["name"], str) and p["name"].strip()
    assert p["name"] != p["device"]["name"]
    assert not p["name"].startswith(p["device"]["name"])


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


# --------------------------------------------------------------------------
# availability: what Home Assistant shows as "unavailable"


def availability_state(probe, entity):
    """What Home Assistant makes of an entity's availability from what the
    local broker holds: True (available) or False, following its rules:
    no message yet is unavailable; availability_mode "all" needs every
    topic available, "latest" (the default) the newest message."""
    states = []
    for a in entity["availability"]:
        msgs = probe.select(a["topic"])
        if not msgs:
            states.append((0, False))
            continue
        last = msgs[-1]
        value = last.payload.decode()
        if "value_template" in a:
            # The one template the gateway uses: online from value_json.online.
            assert a["value_template"] == \
                "{{ 'online' if value_json.online else 'offline' }}", a["value_template"]
            value = "online" if json.loads(value).get("online") else "offline"
        states.append((last.index, value == a.get("payload_available", "online")))
    if entity.get("availability_mode") == "all":
        return all(ok for _, ok in states)
    return max(states)[1]


def entities(s):
    panel, sensors = discovery(s)
    return [panel.json()] + [m.json() for m in sensors.values()]


@pytest.fixture(params=["local only", "with upstream"])
def ha_site(request, site, tmp_path):
    """The default site, once with the feed on the local broker and once
    with an upstream broker (a second mosquitto): Home Assistant listens on
    the local one in both."""
    up = None
    if request.param == "with upstream":
        up = Broker(tmp_path / "upstream", port=free_port())
        up.start()
        site.config["upstream"] = {"host": "127.0.0.1", "port": up.port,
                                   "prefix": "safehouse"}
    yield site
    # The site fixture stops the daemon and checks its exit afterwards.
    if up:
        up.stop()


def test_every_entity_becomes_available_on_the_local_broker(ha_site):
    s = ha_site.start()
    ents = entities(s)
    assert len(ents) == len(s.config["sensors"]) + 2  # panel, gateway fault
    wait_until(lambda: all(availability_state(s.probe, e) for e in ents),
               what="every Home Assistant entity available")


def test_every_entity_becomes_unavailable_when_the_daemon_dies(ha_site):
    s = ha_site.start()
    ents = entities(s)
    wait_until(lambda: all(availability_state(s.probe, e) for e in ents),
               what="every Home Assistant entity available")
    s.send_signal(signal.SIGKILL)
    s.wait_exit()
    # The broker sends the local connection's last will.
    wait_until(lambda: not any(availability_state(s.probe, e) for e in ents),
               what="every Home Assistant entity unavailable after the daemon died")


def test_every_entity_becomes_unavailable_on_a_clean_stop(ha_site):
    s = ha_site.start()
    ents = entities(s)
    wait_until(lambda: all(availability_state(s.probe, e) for e in ents),
               what="every Home Assistant entity available")
    assert s.stop() == 0
    wait_until(lambda: not any(availability_state(s.probe, e) for e in ents),
               what="every Home Assistant entity unavailable after a clean stop")


@pytest.fixture
def upstream_broker(tmp_path):
    b = Broker(tmp_path / "upstream", port=free_port())
    b.start()
    yield b
    b.stop()


def test_upstream_site_keeps_status_upstream_and_on_the_local_broker(site, upstream_broker):
    s = site
    s.config["upstream"] = {"host": "127.0.0.1", "port": upstream_broker.port,
                            "prefix": "safehouse"}
    rx = MqttProbe(s.config["upstream"]["port"], topics=["safehouse/#"]).connect()
    try:
        s.start()
        rx.wait_for(s.topic("status"), pred=lambda m: m.json().get("online") is True,
                    what="the status upstream")
    finally:
        rx.close()
    # Home Assistant starting later finds it retained.
    late = MqttProbe(s.broker.port, topics=[s.topic("status")]).connect()
    try:
        local = late.wait_for(s.topic("status"), pred=lambda m: m.retain,
                              what="the retained status on the local broker")[-1]
        assert local.json()["online"] is True
        assert local.json()["site"] == s.config["site"]["id"]
    finally:
        late.close()


# --------------------------------------------------------------------------
# siren feedback


def test_siren_feedback_is_a_sound_sensor_whose_state_follows_the_siren(site, modbus_tcp):
    sim = modbus_tcp
    sim.set("di", 1, 0, 0)
    use_modbus(site, [tcp_bus("tcp0", sim.port)], [
        {"id": "siren-fb", "name": "Còi sảnh đang kêu", "kind": "siren_feedback",
         "zone": "hall", "modbus": {"bus": "tcp0", "unit": 1, "discrete_input": 0}},
    ])
    s = start_modbus_site(site)
    _, sensors = discovery(s)
    c = sensors["homeassistant/binary_sensor/test-site/siren-fb/config"].json()
    assert c["device_class"] == "sound"
    s.probe.wait_for(c["state_topic"], pred=lambda m: m.payload == b"OFF",
                     what="siren feedback OFF while the siren is silent")
    m = s.probe.mark()
    sim.set("di", 1, 0, 1)
    got = s.probe.wait_for(c["state_topic"], since=m, what="siren feedback ON")[0]
    assert got.payload == b"ON"
    wait_until(lambda: availability_state(s.probe, c), what="siren feedback available")
