"""The installer's half hour: safehousectl discover reads zigbee2mqtt's
retained bridge/devices (real devices' definitions from
zigbee-herdsman-converters, tests/fixtures/z2m_bridge_devices.json: each
entry's "_source" names the converter file and model, "_expect" what
discover must propose) on a real mosquitto, proposes each device's kind and
siren form, refuses to guess the rest, writes a fragment --check accepts and
merges into a config without touching what is there; check-devices warns
on a wrong kind or siren form; `test output` sounds one siren with its own
command and stops it."""

import difflib
import json
import re
import os
import subprocess
from pathlib import Path

import pytest

from helpers import SAFEHOUSECTL, TIMEOUT, free_port, run_check, sanitizer_report

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "z2m_bridge_devices.json"
DEVICES_TOPIC = "zigbee2mqtt/bridge/devices"


def devices():
    return json.loads(FIXTURE.read_text())


def ctl(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run([SAFEHOUSECTL, *map(str, args)], capture_output=True, text=True,
                       timeout=TIMEOUT * 3, stdin=subprocess.DEVNULL, env=e)
    assert r.returncode not in (86, 87) and r.returncode >= 0, r.stderr
    assert not sanitizer_report(r.stderr), r.stderr
    return r


def publish_devices(probe, payload=None):
    if payload is None:
        payload = FIXTURE.read_bytes()
    probe.publish(DEVICES_TOPIC, payload, retain=True)


def entries(stdout):
    """The proposed entries, by topic (discover prints each as a JSON line)."""
    out = {}
    for line in stdout.splitlines():
        s = line.strip()
        if s.startswith("{"):
            e = json.loads(s)
            out[e["mqtt"]["topic"]] = e
    return out


def unclassified(stdout):
    lines = stdout.split("not classified (declare them by hand", 1)
    return lines[1] if len(lines) == 2 else ""


def test_discover_proposes_each_devices_kind_power_and_siren_form(broker, probe):
    publish_devices(probe)
    r = ctl("discover", "--broker", f"127.0.0.1:{broker.port}")
    assert r.returncode == 0, r.stderr
    got = entries(r.stdout)
    checked = 0
    for d in devices():
        what, *rest = d["_expect"].split()
        name = d["friendly_name"]
        if what == "sensor":
            e = got[f"zigbee2mqtt/{name}"]
            assert (e["kind"], e["power"]) == (rest[0], rest[1]), (name, d["_source"], e)
            assert e["mqtt"]["format"] == "zigbee2mqtt"
            checked += 1
        elif what == "siren":
            e = got[f"zigbee2mqtt/{name}/set"]
            assert (e["kind"], e["mqtt"]["siren"]) == ("siren", rest[0]), (name, d["_source"])
            checked += 1
    assert checked == 15
    assert len(got) == 15
    # Each siren's line shows what its own command takes.
    line = next(ln for ln in r.stdout.splitlines() if "HS2WD-E" in ln)
    assert "(modes stop/emergency)" in line
    line = next(ln for ln in r.stdout.splitlines() if "(Tuya ZA03)" in ln)
    assert "(alarm ON/OFF)" in line


def test_discover_takes_the_zone_from_the_friendly_name(broker, probe):
    publish_devices(probe)
    r = ctl("discover", "--broker", f"127.0.0.1:{broker.port}", "--zone", "hall")
    assert r.returncode == 0, r.stderr
    got = entries(r.stdout)
    smoke = got["zigbee2mqtt/phong-101/khoi"]
    assert (smoke["id"], smoke["zone"], smoke["name"]) == ("phong-101-khoi", "phong-101",
                                                           "phong-101/khoi")
    # No room in its name: the --zone given.
    assert got["zigbee2mqtt/siren-hall/set"]["zone"] == "hall"


def test_discover_refuses_to_guess_the_unclassifiable(broker, probe):
    publish_devices(probe)
    r = ctl("discover", "--broker", f"127.0.0.1:{broker.port}")
    assert r.returncode == 0, r.stderr
    got = entries(r.stdout)
    rest = unclassified(r.stdout)
    nones = [d for d in devices() if d["_expect"].startswith("none")]
    assert len(nones) == 4
    for d in nones:
        reason_word = d["_expect"].split()[1]
        line = next(ln for ln in rest.splitlines()
                    if ln.strip().startswith(d["friendly_name"] + ":"))
        assert reason_word in line, line
        assert not any(t.startswith(f"zigbee2mqtt/{d['friendly_name']}") for t in got)
    assert "Coordinator" not in r.stdout


def test_discover_fragment_passes_check_once_its_zones_exist(site, broker, probe):
    publish_devices(probe)
    site.write()
    frag = site.dir / "fragment.json"
    r = ctl("discover", "-c", site.config_path, "-o", frag)
    assert r.returncode == 0, r.stderr
    f = json.loads(frag.read_text())
    assert len(f["sensors"]) == 11 and len(f["outputs"]) == 4
    # The house already has a siren-hall: the new one's id does not collide.
    assert "siren-hall-2" in [o["id"] for o in f["outputs"]]
    for key in ("zones", "sensors", "outputs"):
        site.config[key] += f[key]
    site.write()
    c = run_check(site.config_path)
    assert c.returncode == 0, c.stderr + c.stdout
    assert "17 sensors, 5 outputs" in c.stdout


def only_insertions(old, new):
    """Every line of old is in new unchanged, but for a comma added at the
    end of the line an insertion follows."""
    a, b = old.splitlines(), new.splitlines()
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal" or op == "insert":
            continue
        assert op == "replace", (op, a[i1:i2])
        assert i2 - i1 == 1 and b[j1] == a[i1] + ",", (a[i1:i2], b[j1:j2])
    return True


def test_merge_adds_the_new_devices_and_leaves_existing_entries_byte_identical(site, broker,
                                                                                probe):
    publish_devices(probe)
    site.write()
    before = site.config_path.read_text()
    r = ctl("discover", "-c", site.config_path, "--merge")
    assert r.returncode == 0, r.stderr
    after = site.config_path.read_text()
    assert only_insertions(before, after)
    # The text of each original entry is still there, byte for byte.
    merged = json.loads(after)
    for key in ("zones", "sensors", "outputs", "contacts"):
        assert merged[key][:len(site.config[key])] == site.config[key]
    assert len(merged["sensors"]) == len(site.config["sensors"]) + 11
    c = run_check(site.config_path)
    assert c.returncode == 0, c.stderr
    # Run again: nothing new, nothing written.
    again = ctl("discover", "-c", site.config_path, "--merge")
    assert again.returncode == 0, again.stderr
    assert "0 new sensor(s), 0 new output(s)" in again.stdout
    assert site.config_path.read_text() == after


def test_merge_that_would_make_an_invalid_config_writes_nothing(site, broker, probe):
    publish_devices(probe)
    site.write()
    before = site.config_path.read_bytes()
    # A zone id no config accepts, for the devices whose name has no room.
    r = ctl("discover", "-c", site.config_path, "--merge", "--zone", "bad zone!")
    assert r.returncode == 1
    assert "not written" in r.stderr and "bad zone!" in r.stderr
    assert site.config_path.read_bytes() == before
    assert sorted(p.name for p in site.dir.iterdir() if p.name.startswith("config.json")) == [
        "config.json"]


def mismatched_config(site):
    site.config["zones"] += [{"id": "bep"}]
    site.config["sensors"] = [
        # A heat alarm (HM-5HA-E) declared as smoke.
        {"id": "khoi-bep", "kind": "smoke", "zone": "bep",
         "mqtt": {"topic": "zigbee2mqtt/bep/nhiet", "format": "zigbee2mqtt"}},
        {"id": "gas-bep", "kind": "gas", "zone": "bep",
         "mqtt": {"topic": "zigbee2mqtt/bep/gas", "format": "zigbee2mqtt"}},
    ]
    site.config["outputs"] = [
        # A NEO TS0601 siren with the default (warning) form.
        {"id": "siren-hall", "kind": "siren", "zone": "hall",
         "mqtt": {"topic": "zigbee2mqtt/siren-hall/set", "format": "zigbee2mqtt"}},
        {"id": "coi-cau-thang", "kind": "siren", "zone": "hall",
         "mqtt": {"topic": "zigbee2mqtt/cau-thang/coi/set", "format": "zigbee2mqtt",
                  "siren": "tuya-alarm-onoff"}},
        {"id": "o-cam-bep", "kind": "relay", "zone": "bep",
         "mqtt": {"topic": "zigbee2mqtt/bep/o-cam/set", "format": "zigbee2mqtt"}},
        # A button is no relay.
        {"id": "relay-sos", "kind": "relay", "zone": "hall",
         "mqtt": {"topic": "zigbee2mqtt/phong-101/sos/set", "format": "zigbee2mqtt"}},
    ]
    site.write()


def warnings_of(stdout):
    return [ln for ln in stdout.splitlines() if ln.endswith("(warning)")]


def test_check_devices_warns_on_a_wrong_kind_and_a_wrong_siren_form(site, broker, probe):
    publish_devices(probe)
    mismatched_config(site)
    r = ctl("check-devices", "-c", site.config_path)
    assert r.returncode == 1, r.stderr
    w = warnings_of(r.stdout)
    assert len(w) == 3, r.stdout
    text = site.config_path.read_text().splitlines()
    kind = next(x for x in w if "sensors[0].kind" in x)
    assert kind.startswith(f"{site.config_path}:")
    line = int(kind.split(":")[1])
    assert '"kind": "smoke"' in text[line - 1]
    assert "HM-5HA-E" in kind and 'exposes no "smoke"' in kind and "make it heat" in kind
    siren = next(x for x in w if "outputs[0].mqtt" in x)
    assert ("siren-hall: device TS0601 _TZE204_t1blo2bj (NEO NAS-AB02B2) accepts alarm "
            "true/false with volume low/medium/high (\"siren\": \"tuya-alarm-bool\"), "
            "not warning") in siren
    relay = next(x for x in w if "outputs[3].kind" in x)
    assert 'relay-sos: device SOS-EM HEIMAN (Heiman HS1EB/HS1EB-E) exposes no switchable' in relay
    assert "3 warning(s)" in r.stdout


def test_check_devices_is_quiet_when_every_device_matches(site, broker, probe):
    publish_devices(probe)
    mismatched_config(site)
    site.config["sensors"][0]["kind"] = "heat"
    site.config["outputs"][0]["mqtt"]["siren"] = "tuya-alarm-bool"
    del site.config["outputs"][3]
    site.write()
    r = ctl("check-devices", "-c", site.config_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert warnings_of(r.stdout) == []
    assert "5 zigbee2mqtt sensor(s) and output(s)" in r.stdout


def test_discover_without_bridge_devices_says_so_within_its_timeout(broker, probe):
    r = ctl("discover", "--broker", f"127.0.0.1:{broker.port}",
            env={"SAFEHOUSECTL_DISCOVER_TIMEOUT_MS": "1000"})
    assert r.returncode == 2
    assert (f"no zigbee2mqtt/bridge/devices on 127.0.0.1:{broker.port} within 1 s: is "
            "zigbee2mqtt running with this base topic?") in r.stderr


def test_discover_names_a_broker_it_cannot_reach():
    port = free_port()
    r = ctl("discover", "--broker", f"127.0.0.1:{port}")
    assert r.returncode == 2
    assert f"cannot reach the broker at 127.0.0.1:{port}" in r.stderr


@pytest.mark.parametrize("payload,message", [
    (b"{not json", "is not JSON"),
    (b'{"devices": []}', "is not a list of devices (a JSON object)"),
    (b'"hello"', "is not a list of devices (a JSON value)"),
    (b"x" * (17 * 1024 * 1024), "more than"),
], ids=["not-json", "object", "string", "huge"])
def test_malformed_bridge_devices_gives_a_clear_message(broker, probe, payload, message):
    publish_devices(probe, payload)
    r = ctl("discover", "--broker", f"127.0.0.1:{broker.port}")
    assert r.returncode == 2
    assert message in r.stderr and "zigbee2mqtt/bridge/devices" in r.stderr


def test_entries_without_definition_or_name_are_listed_not_guessed(broker, probe):
    publish_devices(probe, json.dumps([
        1, "x", {"friendly_name": "a/b"}, {"definition": {"exposes": []}},
        {"friendly_name": "c/d", "definition": {"exposes": [{"type": "binary"}, None, 3]}},
    ]))
    r = ctl("discover", "--broker", f"127.0.0.1:{broker.port}")
    assert r.returncode == 0, r.stderr
    assert entries(r.stdout) == {}
    assert "entry 0 of bridge/devices is not an object" in r.stdout
    assert "a/b: (unknown model): zigbee2mqtt has no definition" in r.stdout
    assert "entry 3 ((unknown model)) has no friendly_name" in r.stdout
    assert "c/d: (unknown model): it exposes nothing" in r.stdout


# ---- test output ---------------------------------------------------------------

NEO_TOPIC = "zigbee2mqtt/siren_neo/set"


def add_neo(site):
    site.config["outputs"].append(
        {"id": "siren-neo", "kind": "siren", "zone": "room-101", "duration_s": 600,
         "mqtt": {"topic": NEO_TOPIC, "format": "zigbee2mqtt", "siren": "tuya-alarm-bool"}})


def test_test_output_sends_the_sirens_own_command_then_its_stop(site):
    add_neo(site)
    s = site.start()
    m = s.probe.mark()
    r = s.ctl("test", "output", "siren-neo", "--seconds", "1", "--by", "tho-dien")
    assert r.returncode == 0, r.stderr
    on = s.probe.wait_for(NEO_TOPIC, since=m, what="NEO on")[0]
    assert on.json() == {"alarm": True}
    off = s.probe.wait_for(NEO_TOPIC, since=m, count=2, what="NEO stop")[1]
    assert off.json() == {"alarm": False}
    # Only the siren under test: the hall's siren heard nothing.
    assert s.siren_cmds(since=m) == []
    ev = s.ctl_json("events")["events"]
    t = [e for e in ev if e["type"] == "test" and e.get("sensor") == "siren-neo"]
    assert t and "tho-dien" in t[0]["detail"]


def test_test_output_of_a_warning_siren_sounds_for_the_seconds_asked(site):
    s = site.start()
    m = s.probe.mark()
    assert s.ctl("test", "output", "siren-hall", "--seconds", "2").returncode == 0
    assert s.wait_siren("fire", since=m)["warning"]["duration"] == 2
    assert s.wait_siren("stop", since=m)["warning"]["duration"] == 0


def test_test_output_is_refused_during_an_alarm_and_leaves_the_siren_sounding(site):
    s = site.start()
    m = s.probe.mark()
    s.report("smoke-101", {"smoke": True, "battery": 97})
    s.wait_alarm(since=m, state="raised")
    s.wait_siren("fire", since=m)
    r = s.ctl("test", "output", "siren-hall", "--seconds", "1")
    assert r.returncode == 1
    assert "an alarm is active" in r.stderr
    s.barrier()
    assert [c for c in s.siren_cmds(since=m) if c["warning"]["mode"] == "stop"] == []


def test_test_output_of_an_unknown_output_suggests_one(site):
    s = site.start()
    r = s.ctl("test", "output", "siren-hal")
    assert r.returncode == 1
    assert 'unknown output "siren-hal"; did you mean "siren-hall"?' in r.stderr
    r = s.ctl("test", "output", "siren-hall", "--seconds", "99")
    assert r.returncode != 0 and "1 to 30" in r.stderr


def test_vietnamese_names_give_ascii_ids_and_keep_the_room_as_the_zones_name(site, broker,
                                                                             probe):
    smoke = next(d for d in devices() if d["definition"] and d["definition"]["model"] == "HS1SA-E")
    smoke["friendly_name"] = "Phòng 101/Khói bếp"
    publish_devices(probe, json.dumps([smoke]))
    site.write()
    frag = site.dir / "fragment.json"
    r = ctl("discover", "-c", site.config_path, "-o", frag)
    assert r.returncode == 0, r.stderr
    f = json.loads(frag.read_text())
    s = f["sensors"][0]
    assert (s["id"], s["zone"], s["name"]) == ("Phong-101-Khoi-bep", "Phong-101",
                                               "Phòng 101/Khói bếp")
    assert s["mqtt"]["topic"] == "zigbee2mqtt/Phòng 101/Khói bếp"
    assert f["zones"] == [{"id": "Phong-101", "name": "Phòng 101"}]


def test_merge_into_a_config_with_an_empty_and_a_missing_array(site, broker, probe):
    publish_devices(probe)
    site.config["sensors"] = []
    del site.config["outputs"]
    site.rules = {"site.rules": ""}
    site.write()
    before = site.config_path.read_text()
    r = ctl("discover", "-c", site.config_path, "--merge")
    assert r.returncode == 0, r.stderr
    after = site.config_path.read_text()
    merged = json.loads(after)
    assert len(merged["sensors"]) == 11 and len(merged["outputs"]) == 4
    # Take the new entries (and the new "outputs" key) out again: what is
    # left is the old file, but for whitespace around the insertions.
    rest = re.sub(r"\s+", "", after)
    new = merged["zones"][len(site.config["zones"]):] + merged["sensors"] + merged["outputs"]
    for e in new:
        t = json.dumps(e, separators=(",", ":"), ensure_ascii=False)
        assert t in rest
        rest = rest.replace("," + t, "", 1) if ("," + t) in rest else rest.replace(t + ",", "", 1) \
            if (t + ",") in rest else rest.replace(t, "", 1)
    rest = rest.replace(',"outputs":[]', "")
    assert rest == re.sub(r"\s+", "", before)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_merge_keeps_the_configs_owner_and_mode(site, broker, probe):
    publish_devices(probe)
    site.write()
    os.chown(site.config_path, 65534, 65534)
    os.chmod(site.config_path, 0o600)
    r = ctl("discover", "-c", site.config_path, "--merge")
    assert r.returncode == 0, r.stderr
    st = os.stat(site.config_path)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (65534, 65534, 0o600)
    assert len(json.loads(site.config_path.read_text())["sensors"]) == 6 + 11


def test_merge_through_a_symbolic_link_writes_the_file_it_points_to(site, broker, probe):
    publish_devices(probe)
    site.write()
    link = site.dir / "site-link.json"
    link.symlink_to(site.config_path)
    r = ctl("discover", "-c", link, "--merge")
    assert r.returncode == 0, r.stderr
    assert link.is_symlink()
    assert len(json.loads(site.config_path.read_text())["sensors"]) == 6 + 11


def test_test_output_switches_a_relay_and_refuses_a_valve(site):
    site.config["outputs"] += [
        {"id": "den-hanh-lang", "kind": "relay", "zone": "hall",
         "mqtt": {"topic": "zigbee2mqtt/den_hanh_lang/set", "format": "zigbee2mqtt"}},
        {"id": "van-gas", "kind": "valve", "zone": "kitchen",
         "mqtt": {"topic": "zigbee2mqtt/van_gas/set", "format": "zigbee2mqtt"}},
    ]
    s = site.start()
    m = s.probe.mark()
    assert s.ctl("test", "output", "den-hanh-lang", "--seconds", "1").returncode == 0
    cmds = s.probe.wait_for("zigbee2mqtt/den_hanh_lang/set", since=m, count=2, what="relay on, off")
    assert [c.json() for c in cmds[:2]] == [{"state": "ON"}, {"state": "OFF"}]
    r = s.ctl("test", "output", "van-gas")
    assert r.returncode == 1 and "is a valve" in r.stderr
    s.barrier()
    assert s.probe.select("zigbee2mqtt/van_gas/set", since=m) == []
