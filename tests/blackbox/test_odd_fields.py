"""One odd field must not throw away a valid smoke:true (issue 8, item 4).

zigbee2mqtt payloads carry many fields; a battery of 127 (zigbee-herdsman-
converters src/converters/fromZigbee.ts, converter `battery`: raw / 2 for any
raw value below 255), a temperature glitch or an `update` object must cost at
most that one field. The decoder drops a bad field alone, counts it
(`bad_fields` in status) and logs it with its name; the fire alarm is raised
from the smoke of the same message."""

import json

import pytest

from helpers import wait_until

SMOKE_TOPIC = "zigbee2mqtt/smoke_101"


def deep(n):
    obj = {"state": "idle"}
    for i in range(n):
        obj = {f"level{i}": obj}
    return obj


def raise_fire_from(s, payload):
    m = s.probe.mark()
    s.probe.publish(SMOKE_TOPIC, payload)
    a = s.wait_alarm(since=m, state="raised")[0]
    assert a["class"] == "fire" and a["sensor"] == "smoke-101", a
    s.wait_siren("fire", since=m)


def test_smoke_with_odd_fields_raises_fire_and_counts_the_dropped_ones(running_site):
    s = running_site
    before = s.status().get("bad_fields")
    assert before == 0, f"status has no bad_fields counter at 0: {before!r}"
    payload = {
        "smoke": True,
        "battery": 127,         # kept (clamped to 100)
        "tamper": "false",      # kept: a boolean in a string
        "battery_low": "false",
        "temperature": 300,     # dropped: out of range
        "action": 7,            # dropped: not a string
        "update": deep(10),     # skipped: not a field we read
        "linkquality": 96,
    }
    raise_fire_from(s, json.dumps(payload).encode())
    assert s.status()["bad_fields"] == 2
    assert s.rejected_total() == 0, "a message that was used is not a reject"
    wait_until(lambda: "zigbee2mqtt/smoke_101: field temperature: out of range (300); "
               "field dropped, the rest used" in s.log(),
               what="a log line naming the dropped field")
    out = s.ctl("status").stdout
    assert "2 bad field(s) dropped" in out, out


@pytest.mark.parametrize("form", [True, "true", "ON", "on", 1], ids=repr)
def test_smoke_as_any_boolean_form_raises_fire(running_site, form):
    raise_fire_from(running_site, json.dumps({"smoke": form, "battery": 90}).encode())


def test_smoke_in_a_17k_payload_raises_fire(running_site):
    payload = {"update": {"state": "available", "release_notes": "x" * 17_000},
               "smoke": True}
    raise_fire_from(running_site, json.dumps(payload).encode())


def test_smoke_after_20_repeated_known_fields_raises_fire(running_site):
    # The old decoder stopped at 16 values and still counted the message
    # as used: the smoke was lost without a trace.
    body = ",".join(f'"battery":{50 + i}' for i in range(20))
    raise_fire_from(running_site, ('{' + body + ',"smoke":true}').encode())
