"""Real devices sold in Vietnam, through a real broker, with the shipped model
rules: what each one publishes (zigbee-herdsman-converters, cited per
payload) reaches the owner or the militia as it should."""

from helpers import ROOT, parse_diags, run_check

MODEL = ROOT / "rules" / "model"


def use_model_rules(site, *names):
    site.rules = {f"{n}.rules": (MODEL / f"{n}.rules").read_text() for n in names}


def ha_state(site, sensor_id):
    return f"safehouse/{site.config['site']['id']}/sensor/{sensor_id}/state"


def test_tuya_gas_detector_fault_alarm_reaches_the_owner_as_a_fault(site):
    use_model_rules(site, "faults")
    s = site.start()
    m = s.probe.mark()
    # src/devices/tuya.ts TS0601_gas_sensor_1: dp 11 fault_alarm
    # (tuya.valueConverter.trueFalse1), dp 9 self_test_result.
    s.report("gas-kitchen", {"gas": False, "self_test": False, "self_test_result": "success",
                             "fault_alarm": True, "silence": False, "linkquality": 80})
    fault = s.wait_alarm(since=m, state="raised", sensor="gas-kitchen")[0]
    assert fault["class"] == "fault" and fault["zone"] == "kitchen"
    alert = s.wait_alert(since=m, to="owner", alarm=fault["id"])[0]
    assert "Báo rò gas bếp" in alert["message"]
    s.barrier()
    assert s.siren_cmds(since=m) == [], "a detector's fault must not sound the siren"
    assert not s.alarm_msgs(since=m, **{"class": "gas"})


def test_tuya_smoke_detector_battery_state_low_reaches_the_owner(site):
    use_model_rules(site, "faults")
    s = site.start()
    m = s.probe.mark()
    # src/devices/tuya.ts TS0601_smoke_3/_4/_6: dp 14 battery_state,
    # tuya.valueConverter.batteryState = lookup {low: 0, medium: 1, high: 2}.
    s.report("smoke-101", {"smoke": False, "battery_state": "low", "battery": 8})
    fault = s.wait_alarm(since=m, state="raised", sensor="smoke-101")[0]
    assert fault["class"] == "fault"
    alert = s.wait_alert(since=m, to="owner", alarm=fault["id"])[0]
    assert "Pin yếu" in alert["message"]
    s.report("smoke-101", {"smoke": False, "battery_state": "high", "battery": 100})
    cleared = s.wait_alarm(since=m, state="cleared")[0]
    assert cleared["id"] == fault["id"]


def test_heiman_heat_alarm_on_a_heat_sensor_raises_fire(site):
    use_model_rules(site, "fire")
    s = site.start()
    m = s.probe.mark()
    # src/devices/heiman.ts HM-5HA-E: m.iasZoneAlarm({zoneType: "alarm",
    # zoneAttributes: [alarm_1, battery_low, test, tamper]}) publishes
    # "alarm"; m.temperature, heimanClusterSensorFaultState. 40 °C: the fire
    # comes from the detector's alarm, not from the 57 °C rule.
    s.report("heat-kitchen", {"alarm": True, "battery_low": False, "test": False,
                              "tamper": False, "battery": 100, "temperature": 40,
                              "fault_state": "normal"})
    fire = s.wait_alarm(since=m, state="raised", sensor="heat-kitchen")[0]
    assert fire["class"] == "fire" and fire["zone"] == "kitchen"
    s.wait_siren("fire", since=m)


def test_a_smoke_detectors_alarm_enable_setting_is_no_fire(site):
    use_model_rules(site, "fire")
    s = site.start()
    m = s.probe.mark()
    # src/devices/tuya.ts TS0601_smoke_5: dp 17 "alarm" ON/OFF, exposed as
    # "Enable the alarm": a setting of the detector.
    s.report("smoke-101", {"smoke": False, "tamper": False, "battery": 80,
                           "fault_alarm": False, "silence": False, "alarm": "ON"})
    s.report("smoke-102", {"smoke": True})  # a fire elsewhere: the daemon is listening
    s.wait_alarm(since=m, state="raised", sensor="smoke-102")
    s.barrier()
    assert not s.alarm_msgs(since=m, sensor="smoke-101")


def test_heiman_sos_button_hold_raises_panic_and_its_state_returns_to_off(site):
    use_model_rules(site, "panic")
    for sensor in site.config["sensors"]:
        if sensor["id"] == "panic-hall":
            sensor["mqtt"]["actions"] = ["hold"]
    s = site.start()
    m = s.probe.mark()
    # src/devices/heiman.ts HS1EB/HS1EB-E: fz.command_status_change_
    # notification_action, zone status 1/2/3 = single/double/hold.
    s.report("panic-hall", {"action": "single", "battery": 100})
    s.report("panic-hall", {"action": "hold", "battery": 100})
    panic = s.wait_alarm(since=m, state="raised", sensor="panic-hall")[0]
    assert panic["class"] == "panic"
    s.wait_alert(since=m, to="militia", alarm=panic["id"])
    on = s.probe.wait_for(ha_state(s, "panic-hall"), since=m,
                          pred=lambda x: x.payload == b"ON",
                          what="Home Assistant sees the press")[0]
    # No further message from the button: the gateway returns it itself.
    off = s.probe.wait_for(ha_state(s, "panic-hall"), since=on.index + 1,
                           what="Home Assistant sees the button released after the press")[0]
    assert off.payload == b"OFF"
    # "single" is not listed: one alarm message only, for the hold
    assert len(s.alarm_msgs(since=m, state="raised", sensor="panic-hall")) == 1


def test_a_bad_actions_option_is_refused_by_check_with_its_path(site):
    for sensor in site.config["sensors"]:
        if sensor["id"] == "panic-hall":
            sensor["mqtt"]["actions"] = {"hold": "panik"}
    site.write()
    r = run_check(site.config_path)
    assert r.returncode != 0
    diags = [d for d in parse_diags(r.stdout + r.stderr) if "actions.hold" in d["msg"]]
    assert diags, r.stdout + r.stderr
    assert 'did you mean "panic"' in diags[0]["msg"]
