"""safehoused --test: scenario files on a virtual clock, as a user runs them."""

import subprocess
import time

from helpers import ROOT, SAFEHOUSED, TIMEOUT

DEMO = ROOT / "deploy" / "examples" / "nha-tro.json"


def run_test(*files):
    return subprocess.run([SAFEHOUSED, "-c", str(DEMO), "--test", *map(str, files)],
                          capture_output=True, text=True, timeout=TIMEOUT * 6,
                          stdin=subprocess.DEVNULL)


def test_shipped_model_scenarios_all_pass():
    files = sorted((ROOT / "rules" / "model" / "tests").glob("*.scenario"))
    assert len(files) >= 7
    r = run_test(*files)
    assert r.returncode == 0, r.stdout + r.stderr
    last = r.stdout.strip().splitlines()[-1]
    passed, failed = [int(x.split()[0]) for x in last.split(", ")]
    assert failed == 0 and passed >= 30, last


def test_a_failing_scenario_names_its_first_difference_and_exits_1(tmp_path):
    f = tmp_path / "wrong.scenario"
    f.write_text('scenario "panic is not silent (wrong on purpose)"\n'
                 "  at 0s panic-hall reports pressed\n"
                 "  expect at 0s sirens on\n"
                 "end\n")
    r = run_test(f)
    assert r.returncode == 1
    assert "FAIL" in r.stdout and "line 3: expected at 0s: sirens on" in r.stdout
    assert r.stdout.strip().splitlines()[-1] == "0 passed, 1 failed"


def test_scenario_errors_are_all_reported_with_positions(tmp_path):
    f = tmp_path / "typos.scenario"
    f.write_text('scenario "typos"\n'
                 "  at 0s smoke-1O1 reports smoke\n"
                 "  at 5x smoke-101 reports smoke\n"
                 "  expect at 0s alert milita\n"
                 "end\n")
    r = run_test(f)
    assert r.returncode == 1
    err = r.stderr
    assert f'{f}:2:9: unknown sensor "smoke-1O1"; did you mean "smoke-101"?' in err
    assert f"{f}:3:6: expected a duration" in err
    assert f'{f}:4:22: unknown contact "milita"; did you mean "militia"?' in err


def test_an_hour_long_scenario_runs_on_a_virtual_clock(tmp_path):
    f = tmp_path / "long.scenario"
    f.write_text('scenario "a day of silence then a fire"\n'
                 "  at 0s smoke-101 reports clear\n"
                 "  at 23h smoke-101 reports smoke\n"
                 "  expect at 23h alarm fire in room-101\n"
                 "  expect at 23h1m alert militia\n"
                 "end\n")
    t0 = time.monotonic()
    r = run_test(f)
    assert r.returncode == 0, r.stdout + r.stderr
    # Not a timing assertion on the code: a real clock would need 23 hours.
    assert time.monotonic() - t0 < 600


def test_missing_scenario_file_is_a_failure(tmp_path):
    r = run_test(tmp_path / "nope.scenario")
    assert r.returncode == 1
    assert "cannot read" in r.stderr
