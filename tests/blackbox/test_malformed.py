"""Unusable payloads on real sensor topics: counted, logged, and they change
nothing. A broken or hostile device must neither crash the gateway nor raise
(or hide) an alarm."""

import pytest

from helpers import REJECT_REASONS, wait_until

SMOKE = "zigbee2mqtt/smoke_101"
HEAT = "zigbee2mqtt/heat_kitchen"
DOOR = "zigbee2mqtt/door_main"
PANIC = "zigbee2mqtt/panic_hall"

# (id, topic, payload, must_be_counted). Most carry a would-be alarm
# ("smoke": true, a fire temperature, a press) so that a decoder that reads
# them anyway is caught raising an alarm. must_be_counted is False only where
# the contract leaves open whether it is a reject or a harmless no-op.
MALFORMED = [
    ("not_json", SMOKE, b"smoke detected!!", True),
    ("truncated_json", SMOKE, b'{"smoke": tr', True),
    ("truncated_object", SMOKE, b'{"smoke": true, "battery": 9', True),
    ("trailing_garbage", SMOKE, b'{"smoke": true} trailing', True),
    ("trailing_comma", SMOKE, b'{"smoke": true,}', True),
    ("single_quotes", SMOKE, b"{'smoke': true}", True),
    ("json_array", SMOKE, b'[{"smoke": true}]', True),
    ("json_string", SMOKE, b'"smoke"', True),
    ("json_number", SMOKE, b"1", True),
    ("json_null", SMOKE, b"null", True),
    ("json_true", SMOKE, b"true", True),
    ("smoke_as_string", SMOKE, b'{"smoke": "yes"}', True),
    # "true"/"ON"/1 are booleans (test_odd_fields.py); these are not.
    ("smoke_as_number_2", SMOKE, b'{"smoke": 2}', True),
    ("smoke_as_string_1", SMOKE, b'{"smoke": "1"}', True),
    ("smoke_as_array", SMOKE, b'{"smoke": [true]}', True),
    ("smoke_as_object", SMOKE, b'{"smoke": {"value": true}}', True),
    # zigbee2mqtt itself sends null for a value it does not know yet.
    ("smoke_as_null", SMOKE, b'{"smoke": null}', False),
    ("deep_arrays_1000", SMOKE, b"[" * 1000 + b"]" * 1000, True),
    ("deep_objects_1000", SMOKE, b'{"smoke":' * 1000 + b"true" + b"}" * 1000, True),
    ("oversized_70k", SMOKE, b'{"smoke": true, "pad": "' + b"x" * 70_000 + b'"}', True),
    ("oversized_300k", SMOKE, b'{"smoke": true, "pad": "' + b"x" * 300_000 + b'"}', True),
    ("leading_nul_bytes", SMOKE, b'\x00\x00{"smoke": true}', True),
    ("nul_inside_key", SMOKE, b'{"smo\x00ke": true}', True),
    ("binary_garbage", SMOKE, bytes(range(256)) * 4, True),
    ("invalid_utf8", SMOKE, b"\xff\xfe\xc3\x28\xa0\xa1", True),
    ("invalid_utf8_key", SMOKE, b'{"\xff\xfe": true}', True),
    ("empty_payload", SMOKE, b"", True),
    ("empty_object", SMOKE, b"{}", True),
    ("unknown_fields_only", SMOKE, b'{"colour": "red", "firmware": 3}', True),
    ("duplicate_keys_bad_types", SMOKE, b'{"smoke": "yes", "smoke": "no"}', True),
    ("nan_literal", HEAT, b'{"temperature": NaN}', True),
    ("infinity_literal", HEAT, b'{"temperature": Infinity}', True),
    ("huge_number_overflows_to_inf", HEAT, b'{"temperature": 1e400}', True),
    ("temperature_as_string", HEAT, b'{"temperature": "71.5"}', True),
    ("temperature_as_nan_string", HEAT, b'{"temperature": "NaN"}', True),
    ("battery_as_string", SMOKE, b'{"battery": "full"}', True),
    ("contact_as_string", DOOR, b'{"contact": "open"}', True),
    ("tamper_as_number_string", DOOR, b'{"tamper": "1"}', True),
    ("panic_action_wrong_type", PANIC, b'{"action": 12}', True),
    ("availability_garbage_plain", SMOKE + "/availability", b"sideways", True),
    ("availability_garbage_json", SMOKE + "/availability", b'{"state": "sideways"}', True),
    ("availability_wrong_type", SMOKE + "/availability", b'{"state": false}', True),
    ("availability_not_json", SMOKE + "/availability", b'{"state": "offl', True),
    ("availability_empty", SMOKE + "/availability", b"", False),
]

IDS = [c[0] for c in MALFORMED]

# The sentinel is a plain non-JSON payload: once its reject is counted, the
# daemon has handled everything published before it on that topic.
SENTINEL = b"sentinel: not json"


def rejected(site):
    rej = site.status().get("rejected")
    assert isinstance(rej, dict), f"status has no `rejected` object: {rej!r}"
    return rej


def total(rej):
    return sum(v for v in rej.values() if isinstance(v, int))


@pytest.mark.parametrize("name,topic,payload,counted", MALFORMED, ids=IDS)
def test_malformed_payload_is_counted_and_changes_nothing(running_site, name, topic, payload,
                                                          counted):
    s = running_site
    before = rejected(s)
    m = s.probe.mark()
    s.probe.publish(topic, payload)
    s.probe.publish(topic.removesuffix("/availability"), SENTINEL)
    need = total(before) + (2 if counted else 1)
    wait_until(lambda: total(rejected(s)) >= need,
               what=f"the reject counters to grow to {need} (before: {before})")
    s.barrier()
    assert s.alive(), "safehoused died"
    assert s.alarms() == [], f"{name} raised an alarm: {s.alarms()}"
    assert s.alarm_msgs(since=m) == []
    assert s.siren_cmds(since=m) == []
    after = rejected(s)
    assert set(after) <= set(REJECT_REASONS), f"unknown reject reasons: {sorted(after)}"


def test_malformed_flood_leaves_daemon_working_and_real_smoke_still_raises_fire(running_site):
    s = running_site
    before = rejected(s)
    m = s.probe.mark()
    for _name, topic, payload, _counted in MALFORMED:
        s.probe.publish(topic, payload)
    s.probe.publish(SMOKE, SENTINEL)
    must = sum(1 for c in MALFORMED if c[3]) + 1
    wait_until(lambda: total(rejected(s)) >= total(before) + must,
               what="every malformed payload to be counted")
    s.barrier()
    assert s.alive()
    assert s.alarms() == []
    assert s.alarm_msgs(since=m) == []
    assert s.siren_cmds(since=m) == []
    after = rejected(s)
    for reason in ("too_large", "not_json", "not_object", "bad_type"):
        assert after.get(reason, 0) > before.get(reason, 0), (
            f"no {reason} reject counted: before {before} after {after}")
    assert after.get("too_deep", 0) + after.get("not_json", 0) > (
        before.get("too_deep", 0) + before.get("not_json", 0))

    m = s.probe.mark()
    s.report("smoke-101", {"smoke": True, "battery": 95})
    a = s.wait_alarm(since=m, state="raised")[0]
    assert a["class"] == "fire" and a["sensor"] == "smoke-101"
    s.wait_siren("fire", since=m)


def test_unusable_payload_is_logged_with_its_topic(running_site):
    s = running_site
    before = total(rejected(s))
    s.probe.publish("zigbee2mqtt/door_main", b"{{{ definitely not json")
    wait_until(lambda: total(rejected(s)) > before, what="the reject to be counted")
    wait_until(lambda: "zigbee2mqtt/door_main" in s.log(),
               what="a log line naming the topic of the unusable payload")
