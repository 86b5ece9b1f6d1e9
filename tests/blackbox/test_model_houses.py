"""The shipped model (rules/model) on houses other than the demo: it names
zones and outputs by kind, so `--check` passes on any valid house (what the
house lacks is a warning), and the rules act on whatever the ids are."""

import json
import subprocess

from helpers import ROOT, SAFEHOUSED, TIMEOUT, base_config, errors_only, parse_diags, run_check

MODEL = str(ROOT / "rules" / "model" / "*.rules")


def z2m(topic):
    return {"topic": f"zigbee2mqtt/{topic}", "format": "zigbee2mqtt"}


def minimal_house():
    """One room, one smoke detector: no exit zone, no valve, no siren."""
    cfg = base_config(1883)
    cfg["zones"] = [{"id": "phong-1", "name": "Phòng 1", "kind": "room"}]
    cfg["sensors"] = [{"id": "khoi-1", "kind": "smoke", "zone": "phong-1",
                       "mqtt": z2m("khoi_1")}]
    cfg["outputs"] = []
    cfg["rules"] = [MODEL]
    return cfg


def other_house():
    """An exit zone and gas valves under ids the model has never heard of."""
    cfg = base_config(1883)
    cfg["zones"] += [{"id": "cua-sau", "name": "Lối thoát sau", "kind": "exit"},
                     {"id": "bep-2", "name": "Bếp tầng 2", "kind": "kitchen"}]
    cfg["sensors"] += [
        {"id": "cua-thoat", "kind": "door", "zone": "cua-sau", "mqtt": z2m("cua_thoat")},
        {"id": "co-bep", "kind": "co", "zone": "kitchen", "mqtt": z2m("co_bep")},
    ]
    cfg["outputs"] += [
        {"id": "van-bep-1", "kind": "valve", "zone": "kitchen", "mqtt": z2m("van_1/set")},
        {"id": "van-bep-2", "kind": "valve", "zone": "bep-2", "mqtt": z2m("van_2/set")},
    ]
    cfg["rules"] = [MODEL]
    return cfg


def write(tmp_path, cfg, name="config.json"):
    path = tmp_path / name
    path.write_text(json.dumps(cfg, ensure_ascii=False, indent=2) + "\n")
    return path


def model_diags(out, filename):
    return [d for d in parse_diags(out) if d["file"].endswith("/rules/model/" + filename)]


def test_check_minimal_house_with_the_model_passes_and_warns_what_it_lacks(tmp_path):
    r = run_check(write(tmp_path, minimal_house()))
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert errors_only(parse_diags(out)) == [], out
    exits = [d["msg"] for d in model_diags(out, "exits.rules")]
    valves = [d["msg"] for d in model_diags(out, "gas-valve.rules")]
    assert any('the site has no zone of kind "exit"' in m for m in exits), out
    assert any("the site has no valve output" in m and "does nothing" in m
               for m in valves), out
    assert all("warning" in m for m in exits + valves), out


def test_check_house_with_its_own_exit_and_valve_ids_has_nothing_to_say_about_them(tmp_path):
    r = run_check(write(tmp_path, other_house()))
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert errors_only(parse_diags(out)) == [], out
    assert model_diags(out, "exits.rules") == [], out
    assert model_diags(out, "gas-valve.rules") == [], out


def run_scenarios(tmp_path, cfg, text):
    f = tmp_path / "house.scenario"
    f.write_text(text)
    return subprocess.run([SAFEHOUSED, "-c", str(write(tmp_path, cfg)), "--test", str(f)],
                          capture_output=True, text=True, timeout=TIMEOUT * 6,
                          stdin=subprocess.DEVNULL)


def test_model_closes_every_valve_and_watches_the_exit_whatever_their_ids(tmp_path):
    r = run_scenarios(tmp_path, other_house(), """\
scenario "a gas leak closes both valves, in both kitchens"
  at 0s output van-bep-1 on
  at 0s output van-bep-2 on
  expect at 0s output van-bep-2 on
  at 1s gas-kitchen reports detected
  expect at 1s output van-bep-1 off
  expect at 1s output van-bep-2 off
end

scenario "carbon monoxide closes both valves"
  at 0s output van-bep-1 on
  at 0s output van-bep-2 on
  at 1s co-bep reports detected
  expect at 1s output van-bep-1 off
  expect at 1s output van-bep-2 off
end

scenario "smoke leaves the valves open"
  at 0s output van-bep-1 on
  at 1s smoke-101 reports smoke
  expect at 5m output van-bep-1 on
end

scenario "the door of the exit zone cua-sau held open at night tells the owner"
  start 2026-03-01 23:00
  at 0s cua-thoat reports open
  expect no supervisory before 10m
  expect at 10m supervisory in cua-sau
  expect at 10m alert owner
end

scenario "the main door is no exit door"
  start 2026-03-01 23:00
  at 0s door-main reports open
  expect no supervisory
  until 30m
end
""")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert r.stdout.strip().splitlines()[-1] == "5 passed, 0 failed", out


def test_check_unknown_zone_or_output_kind_is_an_error_with_position_and_hint(tmp_path):
    cfg = minimal_house()
    rules = tmp_path / "site.rules"
    rules.write_text('rule "exit"\n'
                     "when door in zone kind exti is open for 10m\n"
                     "then output kind valv off\n"
                     "end\n")
    cfg["rules"] = [str(rules)]
    r = run_check(write(tmp_path, cfg))
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    errs = errors_only(parse_diags(out))
    assert [(d["line"], d["col"]) for d in errs] == [(2, 24), (3, 18)], out
    assert 'unknown zone kind "exti"; did you mean "exit"?' in errs[0]["msg"], out
    assert 'unknown output kind "valv"; did you mean "valve"?' in errs[1]["msg"], out


def test_scenario_output_step_with_a_bad_output_or_word_is_an_error(tmp_path):
    r = run_scenarios(tmp_path, other_house(), """\
scenario "typos"
  at 0s output van-bep-3 on
  at 0s output van-bep-1 open
end
""")
    assert r.returncode == 1
    f = tmp_path / "house.scenario"
    assert f'{f}:2:' in r.stderr and 'unknown output "van-bep-3"' in r.stderr, r.stderr
    assert f'{f}:3:' in r.stderr and 'expected "on" or "off"' in r.stderr, r.stderr
