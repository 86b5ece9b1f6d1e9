"""Modbus RTU and TCP: wired detectors, fire panels and siren relays.

Every test talks to a real Modbus peer: pymodbus (modbus_sim.py) as a TCP
server on a free loopback port, or as an RTU server on one end of a socat
pty pair with the daemon on the other end. The simulator's datastore is the
wiring: a test sets a discrete input or a register there and watches the
alarm feed, or reads a coil there to see what the daemon switched.

Buses run with short polls and timeouts (modbus_helpers.FAST_BUS) so that a
missing device is noticed in well under a second; every wait is a poll with
a deadline.
"""

import json
import os
import re

import pytest

from helpers import (ROOT, TIMEOUT, base_config, errors_only, find_alarm, parse_diags, run_check,
                     wait_until)
from modbus_helpers import (f32_registers, modbus_status, rtu_bus, start_modbus_site, tcp_bus,
                            use_modbus, wait_device)

PROFILES = ROOT / "deploy" / "profiles"


def sensor(sid, kind, zone, **modbus):
    return {"id": sid, "name": sid, "kind": kind, "zone": zone, "modbus": modbus}


def is_modbus_fault(alarm, bus, unit):
    """The daemon's own fault for a device that stopped answering: class
    fault, and the message names Modbus, the bus and the unit."""
    msg = alarm.get("message") or ""
    return (alarm.get("class") == "fault" and "Modbus" in msg and bus in msg
            and re.search(rf"(?<!\d){unit}(?!\d)", msg) is not None)


def wait_modbus_fault(site, bus, unit, state, since=0, timeout=TIMEOUT):
    what = f"a {state!r} fault alarm naming Modbus {bus} unit {unit}"
    return site.probe.wait_for(
        site.topic("alarm"), since=since, timeout=timeout,
        pred=lambda m: m.json().get("state") == state and is_modbus_fault(m.json(), bus, unit),
        what=what)[0].json()


SMOKE_RULE = """\
rule "wired smoke"
when sensor "smoke-wired" becomes detected
then
  alarm fire
  siren on fire
  alert militia
end
"""

WIRED_RULES = SMOKE_RULE + """
rule "fire exit door open"
when sensor "exit-door" becomes open
then supervisory "Cửa thoát hiểm đang mở"
end
"""


def wait_polls(sim, unit, n=10):
    """Let the daemon send `unit` n more requests (a poll cycle is one
    request per point, or fewer): what the simulator held before this call
    has been read."""
    start = sim.requests(unit)
    wait_until(lambda: sim.requests(unit) >= start + n,
               what=f"{n} more polls of unit {unit}")


def settle(site, sim, unit=1):
    """Before asserting that something did not happen: the daemon has read
    the current values and handled them."""
    wait_polls(sim, unit)
    site.barrier()


# --------------------------------------------------------------------------
# inputs into alarms


def test_wired_inputs_on_modbus_tcp_raise_and_clear_alarms_through_rules(modbus_tcp, site):
    sim = modbus_tcp
    # The exit door's contact is normally closed (1 = door shut): invert.
    sim.set("di", 1, 0, [0, 1])
    use_modbus(site, [tcp_bus("tcp0", sim.port)], [
        sensor("smoke-wired", "smoke", "room-101", bus="tcp0", unit=1, discrete_input=0),
        sensor("exit-door", "door", "hall", bus="tcp0", unit=1, discrete_input=1, invert=True),
    ], rules=WIRED_RULES)
    start_modbus_site(site)
    settle(site, sim)
    assert site.alarms() == [], "idle inputs (smoke 0, closed door 1) must raise nothing"

    m = site.probe.mark()
    sim.set("di", 1, 0, 1)                       # smoke
    fire = site.wait_alarm(since=m, state="raised", **{"class": "fire"})[0]
    assert fire["sensor"] == "smoke-wired" and fire["zone"] == "room-101"
    assert fire["rule"] == "wired smoke"
    site.wait_siren("fire", since=m)
    alert = site.wait_alert(since=m, to="militia")[0]
    assert alert["alarm"] == fire["id"]

    # The door toggles: open, shut, open again -> raised, cleared, raised.
    sim.set("di", 1, 1, 0)
    opened = site.wait_alarm(since=m, state="raised", **{"class": "supervisory"})[0]
    assert opened["sensor"] == "exit-door" and opened["zone"] == "hall"
    sim.set("di", 1, 1, 1)
    shut = site.wait_alarm(since=m, state="cleared", id=opened["id"])[0]
    assert shut["sensor"] == "exit-door"
    m2 = site.probe.mark()
    sim.set("di", 1, 1, 0)
    again = site.wait_alarm(since=m2, state="raised", **{"class": "supervisory"})[0]
    assert again["id"] != opened["id"], "a door opened again is a new alarm"

    # Smoke gone: the fire alarm's cause clears, the alarm stays until reset.
    sim.set("di", 1, 0, 0)
    site.wait_alarm(since=m, state="cleared", id=fire["id"])
    assert find_alarm(site.alarms(), id=fire["id"]) is not None, "a fire alarm latches"
    r = site.ctl("reset", fire["id"], "--by", "chu-nha")
    assert r.returncode == 0, r.stdout + r.stderr
    site.wait_alarm(since=m, state="reset", id=fire["id"])
    assert len(site.alarm_msgs(since=m, state="raised", **{"class": "fire"})) == 1


# --------------------------------------------------------------------------
# siren relays


def test_siren_relay_on_rtu_coil_switches_on_with_the_fire_and_off_at_reset(modbus_rtu, site):
    sim = modbus_rtu
    use_modbus(site, [rtu_bus("rtu0", sim.gw_end)], [
        sensor("smoke-wired", "smoke", "room-101", bus="rtu0", unit=1, discrete_input=0),
    ], outputs=[
        {"id": "siren-yard", "kind": "siren", "zone": "hall",
         "modbus": {"bus": "rtu0", "unit": 2, "coil": 0}},
    ], rules=SMOKE_RULE)
    start_modbus_site(site)
    settle(site, sim)
    assert sim.coil(2, 0) == 0, "the siren relay must be off while nothing happens"

    m = site.probe.mark()
    sim.set("di", 1, 0, 1)
    fire = site.wait_alarm(since=m, state="raised", **{"class": "fire"})[0]
    site.wait_siren("fire", since=m)             # the MQTT siren sounds too
    wait_until(lambda: sim.coil(2, 0) == 1, what="siren coil rtu0/2/0 switched on")
    assert sim.get("co", 2, 1, 7) == [0] * 7, "only coil 0 is the siren"

    sim.set("di", 1, 0, 0)
    site.wait_alarm(since=m, state="cleared", id=fire["id"])
    settle(site, sim)
    assert sim.coil(2, 0) == 1, "the siren sounds until the fire alarm is reset"
    r = site.ctl("reset", fire["id"], "--by", "chu-nha")
    assert r.returncode == 0, r.stdout + r.stderr
    site.wait_siren("stop", since=m)
    wait_until(lambda: sim.coil(2, 0) == 0, what="siren coil rtu0/2/0 switched off")


def test_siren_relay_that_does_not_answer_raises_siren_output_failed_and_is_retried(
        modbus_tcp, site):
    sim = modbus_tcp
    use_modbus(site, [tcp_bus("tcp0", sim.port)], [
        sensor("smoke-wired", "smoke", "room-101", bus="tcp0", unit=1, discrete_input=0),
    ], outputs=[
        {"id": "siren-yard", "kind": "siren", "zone": "hall",
         "modbus": {"bus": "tcp0", "unit": 2, "coil": 0}},
    ], rules=SMOKE_RULE)
    start_modbus_site(site)
    settle(site, sim)
    sim.drop(2)

    m = site.probe.mark()
    sim.set("di", 1, 0, 1)
    site.wait_alarm(since=m, state="raised", **{"class": "fire"})
    failed = site.probe.wait_for(
        site.topic("alarm"), since=m,
        pred=lambda msg: (msg.json().get("state") == "raised"
                          and msg.json().get("class") == "fault"
                          and "siren output failed" in (msg.json().get("message") or "")),
        what="a raised 'siren output failed' fault")[0].json()
    assert "tcp0" in failed["message"] and "unit 2" in failed["message"], failed

    # The relay answers again: the write is retried without a new command,
    # the siren comes on and the fault clears.
    sim.restore(2)
    wait_until(lambda: sim.coil(2, 0) == 1, what="the retried write switching the siren on")
    site.probe.wait_for(
        site.topic("alarm"), since=m,
        pred=lambda msg: msg.json().get("state") == "cleared" and msg.json().get("id") == failed["id"],
        what="the 'siren output failed' fault cleared")
    assert site.alive()


# --------------------------------------------------------------------------
# devices that stop answering


@pytest.mark.parametrize("bus_type", ["tcp", "rtu"])
def test_device_that_stops_answering_raises_fault_that_clears_when_it_is_back(
        request, bus_type, site):
    if bus_type == "tcp":
        sim = request.getfixturevalue("modbus_tcp")
        bus = tcp_bus("tcp0", sim.port)
    else:
        sim = request.getfixturevalue("modbus_rtu")
        bus = rtu_bus("rtu0", sim.gw_end)
    bid = bus["id"]
    use_modbus(site, [bus], [
        sensor("smoke-wired", "smoke", "room-101", bus=bid, unit=1, discrete_input=0),
    ], rules=SMOKE_RULE)
    start_modbus_site(site)
    settle(site, sim)
    assert site.status()["faults"] == 0

    m = site.probe.mark()
    sim.drop(1)
    raised = wait_modbus_fault(site, bid, 1, "raised", since=m)
    wait_until(lambda: find_alarm(site.alarms(), id=raised["id"]),
               what="the Modbus fault in `safehousectl alarms`")
    wait_until(lambda: site.status()["faults"] == 1, what="status counting 1 fault")
    dev = wait_device(site, bid, 1, "fault")
    assert dev["timeouts"] > 0, dev
    site.probe.wait_for(site.topic("status"), since=m,
                        pred=lambda msg: msg.json().get("faults") == 1,
                        what="retained status with faults: 1")

    sim.restore(1)
    cleared = wait_modbus_fault(site, bid, 1, "cleared", since=m)
    assert cleared["id"] == raised["id"]
    wait_until(lambda: find_alarm(site.alarms(), id=raised["id"]) is None,
               what="the fault to leave the active alarms")
    wait_until(lambda: site.status()["faults"] == 0, what="status counting no fault")
    wait_device(site, bid, 1, "ok")
    assert site.siren_cmds(since=m) == [], "a device fault must not sound the siren"

    # Readings flow again.
    sim.set("di", 1, 0, 1)
    site.wait_alarm(since=m, state="raised", sensor="smoke-wired", **{"class": "fire"})


def test_siren_write_is_not_held_behind_a_dead_device_with_long_timeouts(modbus_tcp, site):
    # Unit 3 is not there: each request to it waits 3 s, 4 tries, 2 requests
    # per poll. A bus that waited all that out before writing the siren coil
    # would hold the siren for 24 s; a device in fault is only probed once.
    sim = modbus_tcp
    slow = {"timeout_ms": 3000, "retries": 3}
    use_modbus(site, [tcp_bus("tcp0", sim.port)], [
        sensor("smoke-wired", "smoke", "room-101", bus="tcp0", unit=1, discrete_input=0),
        sensor("smoke-gone", "smoke", "room-102", bus="tcp0", unit=3, discrete_input=0, **slow),
        sensor("heat-gone", "heat", "room-102", bus="tcp0", unit=3, input_register=0, **slow),
    ], outputs=[
        {"id": "siren-yard", "kind": "siren", "zone": "hall",
         "modbus": {"bus": "tcp0", "unit": 2, "coil": 0}},
    ], rules=SMOKE_RULE)
    m = site.probe.mark()
    start_modbus_site(site, absent=[("tcp0", 3)])
    # Its first poll takes all its tries (12 s): that is what retries are.
    wait_modbus_fault(site, "tcp0", 3, "raised", since=m, timeout=12 + 2 * TIMEOUT)

    sim.set("di", 1, 0, 1)
    site.wait_alarm(since=m, state="raised", **{"class": "fire"})
    wait_until(lambda: sim.coil(2, 0) == 1, what="the siren coil written beside a dead device")


def test_second_device_timing_out_on_rtu_bus_does_not_stop_polling_the_first(modbus_rtu, site):
    sim = modbus_rtu
    use_modbus(site, [rtu_bus("rtu0", sim.gw_end)], [
        sensor("smoke-wired", "smoke", "room-101", bus="rtu0", unit=1, discrete_input=0),
        sensor("smoke-annex", "smoke", "room-102", bus="rtu0", unit=2, discrete_input=0),
    ], rules="""\
rule "wired smoke"
when smoke becomes detected
then
  alarm fire
  siren on fire
end
""")
    start_modbus_site(site)

    m = site.probe.mark()
    sim.drop(2)
    wait_modbus_fault(site, "rtu0", 2, "raised", since=m)
    wait_device(site, "rtu0", 2, "fault")

    # Unit 2 still times out on every poll; unit 1 is still read.
    before_sim = sim.requests(1)
    before_ok = modbus_status(site)[("rtu0", 1)]["ok"]
    sim.set("di", 1, 0, 1)
    fire = site.wait_alarm(since=m, state="raised", **{"class": "fire"})[0]
    assert fire["sensor"] == "smoke-wired" and fire["zone"] == "room-101"
    wait_until(lambda: sim.requests(1) >= before_sim + 5,
               what="unit 1 polled again and again while unit 2 times out")
    wait_device(site, "rtu0", 1, "ok", pred=lambda d: d["ok"] > before_ok)
    st = modbus_status(site)
    assert st[("rtu0", 2)]["state"] == "fault" and st[("rtu0", 2)]["timeouts"] > 0, st
    faults = [a for a in site.alarms() if a["class"] == "fault"]
    assert len(faults) == 1, f"only unit 2 is faulty: {faults}"
    assert site.status()["faults"] == 1


# --------------------------------------------------------------------------
# exception replies


def test_exception_replies_are_counted_per_device_and_other_points_still_work(
        modbus_tcp, site):
    sim = modbus_tcp
    # The server has 100 of each table: register 150 gets ILLEGAL DATA ADDRESS.
    # A long timeout: nothing here should time out, even on a slow machine.
    use_modbus(site, [tcp_bus("tcp0", sim.port, timeout_ms=2000)], [
        sensor("smoke-wired", "smoke", "room-101", bus="tcp0", unit=1, discrete_input=0),
        sensor("heat-missing", "heat", "kitchen", bus="tcp0", unit=1, input_register=150),
        sensor("smoke-annex", "smoke", "room-102", bus="tcp0", unit=2, discrete_input=0),
    ], rules=SMOKE_RULE)
    site.start(sensors_online=False)

    def exceptions_counted():
        d = modbus_status(site).get(("tcp0", 1))
        return d if d and d.get("exceptions", 0) >= 3 else None
    d = wait_until(exceptions_counted, what="exception replies counted for tcp0 unit 1")
    assert d["timeouts"] == 0, f"an exception reply is an answer, not a timeout: {d}"
    wait_device(site, "tcp0", 2, "ok", pred=lambda d: d["ok"] > 0)

    m = site.probe.mark()
    sim.set("di", 1, 0, 1)
    fire = site.wait_alarm(since=m, state="raised", **{"class": "fire"})[0]
    assert fire["sensor"] == "smoke-wired"
    settle(site, sim)
    st = modbus_status(site)
    assert st[("tcp0", 1)]["exceptions"] > d["exceptions"], "exceptions keep being counted"
    assert st[("tcp0", 2)]["exceptions"] == 0, st
    assert site.alive()


# --------------------------------------------------------------------------
# decoding


F32_RULES = "".join(f"""\
rule "{sid} hot"
when sensor "{sid}" above 57
then alarm fire "{sid} ${{value}}"
end

rule "{sid} too hot"
when sensor "{sid}" above 58
then supervisory "{sid} above 58: ${{value}}"
end

""" for sid in ("heat-big", "heat-little", "heat-default"))


def test_f32_temperature_is_decoded_in_big_and_little_word_order(modbus_tcp, site):
    sim = modbus_tcp
    regs = {"heat-big": (10, "big"), "heat-little": (20, "little"), "heat-default": (30, "big")}
    for reg, order in regs.values():
        sim.set("ir", 1, reg, f32_registers(20.0, order))
    use_modbus(site, [tcp_bus("tcp0", sim.port)], [
        sensor("heat-big", "heat", "kitchen", bus="tcp0", unit=1, input_register=10,
               type="f32", word_order="big"),
        sensor("heat-little", "heat", "room-101", bus="tcp0", unit=1, input_register=20,
               type="f32", word_order="little"),
        sensor("heat-default", "heat", "room-102", bus="tcp0", unit=1, input_register=30,
               type="f32"),
    ], rules=F32_RULES)
    start_modbus_site(site)
    settle(site, sim)
    assert site.alarms() == [], "20.0 °C raises nothing"

    m = site.probe.mark()
    for reg, order in regs.values():
        sim.set("ir", 1, reg, f32_registers(57.5, order))
    fires = site.wait_alarm(since=m, state="raised", count=3, **{"class": "fire"})
    by_sensor = {a["sensor"]: a for a in fires}
    assert set(by_sensor) == set(regs), fires
    for sid, a in by_sensor.items():
        assert "57.5" in a["message"], f"{sid}: 57.5 °C decoded as {a['message']!r}"
    settle(site, sim)
    assert site.alarm_msgs(since=m, **{"class": "supervisory"}) == [], \
        "57.5 °C is not above 58"


# --------------------------------------------------------------------------
# device profiles


def test_io_module_profile_channel_3_is_discrete_input_2(modbus_tcp, site):
    sim = modbus_tcp
    use_modbus(site, [tcp_bus("tcp0", sim.port)], [
        {"id": "smoke-ch3", "name": "smoke-ch3", "kind": "smoke", "zone": "room-101",
         "modbus": {"bus": "tcp0", "unit": 1, "profile": "io-8ch", "channel": 3}},
    ], rules="""\
rule "wired smoke"
when sensor "smoke-ch3" becomes detected
then alarm fire
end
""", profiles_dir=str(PROFILES))
    start_modbus_site(site)

    m = site.probe.mark()
    sim.set("di", 1, 0, [1, 1, 0, 1, 1, 1, 1, 1])  # every channel but 3
    settle(site, sim)
    assert site.alarm_msgs(since=m) == [], "channel 3 is input 2, which is still 0"
    sim.set("di", 1, 2, 1)
    a = site.wait_alarm(since=m, state="raised", **{"class": "fire"})[0]
    assert a["sensor"] == "smoke-ch3"


def test_fire_panel_zone_alarm_bit_and_heat_transmitter_profiles(modbus_tcp, site):
    sim = modbus_tcp
    # Zone 2 of the panel is holding register 1: bit 1 prealarm, bit 2 fault.
    sim.set("hr", 2, 1, 0b0110)
    sim.set("ir", 1, 0, 215)                     # 21.5 °C, s16 scale 0.1
    use_modbus(site, [tcp_bus("tcp0", sim.port)], [
        {"id": "panel-zone-2", "name": "panel zone 2", "kind": "smoke", "zone": "room-102",
         "modbus": {"bus": "tcp0", "unit": 2, "profile": "fire-panel-zones", "channel": 2}},
        {"id": "heat-tx", "name": "heat transmitter", "kind": "heat", "zone": "kitchen",
         "modbus": {"bus": "tcp0", "unit": 1, "profile": "heat-transmitter", "channel": 1}},
    ], rules="""\
rule "panel zone in alarm"
when sensor "panel-zone-2" becomes detected
then alarm fire
end

rule "kitchen hot"
when sensor "heat-tx" above 57
then alarm fire "bếp ${value}"
end

rule "kitchen frozen"
when sensor "heat-tx" below -5
then supervisory "bếp lạnh ${value}"
end
""", profiles_dir=str(PROFILES))
    start_modbus_site(site)
    settle(site, sim, unit=2)
    assert site.alarms() == [], "prealarm and fault bits are not the zone's alarm bit"

    m = site.probe.mark()
    sim.set("hr", 2, 1, 0b0111)
    a = site.wait_alarm(since=m, state="raised", **{"class": "fire"})[0]
    assert a["sensor"] == "panel-zone-2" and a["zone"] == "room-102"

    sim.set("ir", 1, 0, 575)                     # 57.5 °C
    h = site.wait_alarm(since=m, state="raised", sensor="heat-tx", **{"class": "fire"})[0]
    assert "57.5" in h["message"], h
    sim.set("ir", 1, 0, (-100) & 0xFFFF)         # -10.0 °C: s16, not 6553.6
    s = site.wait_alarm(since=m, state="raised", sensor="heat-tx",
                        **{"class": "supervisory"})[0]
    assert "-10" in s["message"], s


def test_shipped_profiles_are_well_formed():
    names = {p.stem for p in PROFILES.glob("*.json")}
    assert {"io-8ch", "fire-panel-zones", "heat-transmitter"} <= names, names
    tables = {"discrete_input", "coil", "input_register", "holding_register"}
    for path in sorted(PROFILES.glob("*.json")):
        prof = json.loads(path.read_text())
        assert set(prof) <= {"name", "description", "channels", "outputs"}, path
        assert prof["name"] == path.stem and prof["description"], path
        for group in ("channels", "outputs"):
            for ch, point in prof.get(group, {}).items():
                assert ch.isdigit() and int(ch) >= 1, (path, ch)
                assert len(tables & set(point)) == 1, (path, ch, point)
                (addr,) = [point[t] for t in tables & set(point)]
                assert 0 <= addr <= 65535, (path, ch)
                if group == "outputs":
                    assert "coil" in point, (path, ch, point)
                if "bit" in point:
                    assert 0 <= point["bit"] <= 15, (path, ch)
    io = json.loads((PROFILES / "io-8ch.json").read_text())
    assert io["channels"] == {str(i + 1): {"discrete_input": i} for i in range(8)}
    assert io["outputs"] == {str(i + 1): {"coil": i} for i in range(8)}


# --------------------------------------------------------------------------
# --check


def modbus_check_config():
    cfg = base_config(1883)
    cfg["buses"] = [
        {"id": "rtu0", "type": "rtu", "device": "/dev/ttyUSB0", "baud": 9600, "parity": "E",
         "data_bits": 8, "stop_bits": 1, "timeout_ms": 300, "retries": 2, "poll_ms": 250},
        {"id": "panel", "type": "tcp", "host": "10.0.0.5", "port": 502},
    ]
    cfg["sensors"] += [
        sensor("smoke-wired", "smoke", "room-101", bus="rtu0", unit=1, discrete_input=0),
        sensor("door-wired", "door", "hall", bus="rtu0", unit=1, coil=3, invert=True),
        sensor("heat-wired", "heat", "kitchen", bus="panel", unit=3, input_register=7,
               type="s16", scale=0.1, offset=-2, poll_ms=1000, timeout_ms=800, retries=1),
        sensor("heat-f32", "heat", "room-102", bus="panel", unit=3, holding_register=10,
               type="f32", word_order="little", point="temperature"),
        sensor("panel-z1", "smoke", "hall", bus="panel", unit=2, holding_register=0, bit=0),
    ]
    cfg["outputs"].append({"id": "siren-yard", "kind": "siren", "zone": "hall",
                           "modbus": {"bus": "rtu0", "unit": 2, "coil": 0}})
    return cfg


def write_check_site(tmp_path, cfg):
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "site.rules").write_text(WIRED_RULES.replace(
        'sensor "exit-door"', 'sensor "door-wired"'))
    path = tmp_path / "config.json"
    text = json.dumps(cfg, ensure_ascii=False, indent=2) + "\n"
    path.write_text(text)
    return path, text


def test_check_accepts_buses_and_modbus_points(tmp_path):
    path, _ = write_check_site(tmp_path, modbus_check_config())
    r = run_check(path)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert errors_only(parse_diags(out)) == [], out


def _unknown_bus(s):
    s["modbus"]["bus"] = "rtu9"
    return '"rtu9"'


def _address_out_of_range(s):
    s["modbus"]["discrete_input"] = 70000
    return "70000"


def _two_tables(s):
    s["modbus"]["coil"] = 4
    return None  # either table's line


def _bit_16(s):
    del s["modbus"]["discrete_input"]
    s["modbus"].update({"holding_register": 5, "bit": 16})
    return '"bit": 16'


@pytest.mark.parametrize("breaker", [_unknown_bus, _address_out_of_range, _two_tables, _bit_16],
                         ids=["unknown_bus", "address_out_of_range", "two_tables", "bit_16"])
def test_check_reports_bad_modbus_point_with_position(tmp_path, breaker):
    cfg = modbus_check_config()
    index = next(i for i, s in enumerate(cfg["sensors"]) if s["id"] == "smoke-wired")
    needle = breaker(cfg["sensors"][index])
    path, text = write_check_site(tmp_path, cfg)
    r = run_check(path)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    diags = errors_only([d for d in parse_diags(out)
                         if os.path.basename(d["file"]) == "config.json"])
    assert len(diags) == 1, f"expected exactly one error, got:\n{out}"
    d = diags[0]
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines, 1) if '"smoke-wired"' in line)
    if needle is None:
        # Either table's key, or the modbus object that holds both.
        want = {i for i, line in enumerate(lines, 1)
                if i > start and ('"discrete_input": 0' in line or '"coil": 4' in line
                                  or '"modbus": {' in line)}
        want = set(sorted(want)[:3])
    else:
        want = {next(i for i, line in enumerate(lines, 1) if i > start and needle in line)}
    assert d["line"] in want, f"error at line {d['line']}, expected one of {want}:\n{out}"
    assert d["col"] >= 1
    assert f"sensors[{index}].modbus" in d["msg"], f"the error lacks its path:\n{out}"
