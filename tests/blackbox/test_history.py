"""What the event log keeps of temperatures and battery levels ("history" in
docs/config.md): a temperature when it moved by its step or after
max_interval_s, every reading still seen by the rules; and a state change
whose sensor row is on the disk with the change itself (README, "Writes
and the SD card")."""

import signal
import sqlite3
import time

from helpers import base_config, errors_only, parse_diags, run_check, wait_until
from test_check import line_of, write_site


def open_db(path):
    db = sqlite3.connect(path, timeout=5)
    db.row_factory = sqlite3.Row
    return db


def heat(s, temperature, battery=91):
    """A report of heat-kitchen, once the daemon has handled it."""
    s.probe.publish(s.sensor_topic("heat-kitchen"),
                    {"temperature": temperature, "battery": battery}, qos=0)
    wait_until(lambda: [x for x in s.ctl_json("sensors")["sensors"]
                        if x["id"] == "heat-kitchen"
                        and x["values"].get("temperature") == temperature
                        and x["values"].get("battery") == battery],
               what=f"heat-kitchen at {temperature} °C, battery {battery} in safehousectl sensors")


def temperature_rows(s):
    with open_db(s.db_path) as db:
        return [(r["value"], r["at_ms"]) for r in db.execute(
            "SELECT value, at_ms FROM events WHERE sensor = 'heat-kitchen' AND"
            " point = 'temperature' AND type = 'reading' ORDER BY id")]


def test_a_temperature_moving_less_than_its_step_is_no_event_but_its_rule_fires(running_site):
    s = running_site
    m = s.probe.mark()
    for t in (40.0, 40.2, 40.4, 56.8):
        heat(s, t)
    # 57.1 is 0.3 from 56.8, less than the 0.5 step: but the rule "kitchen
    # heat is a fire" (above 57) fires on it, so it is recorded, and it
    # commits with the alarm, at once.
    heat(s, 57.1)
    s.wait_alarm(since=m, state="raised", **{"class": "fire"})
    wait_until(lambda: 57.1 in [v for v, _ in temperature_rows(s)],
               what="the temperature that raised the alarm committed with it")
    assert [v for v, _ in temperature_rows(s)] == [40.0, 56.8, 57.1]


def test_a_door_left_open_is_restored_open_after_a_power_cut(running_site):
    s = running_site
    s.probe.publish(s.sensor_topic("door-main"), {"contact": False}, qos=0)  # open
    with_door = ("SELECT count(*) FROM events WHERE sensor = 'door-main' AND point = 'contact'"
                 " AND value = 1")

    def door_rows():
        with open_db(s.db_path) as db:
            return db.execute(with_door).fetchone()[0]

    wait_until(lambda: door_rows() >= 1, what="the door's opening committed")
    s.send_signal(signal.SIGKILL)  # a power cut right after
    s.wait_exit()
    with open_db(s.db_path) as db:
        row = db.execute("SELECT last_values FROM sensors WHERE id = 'door-main'").fetchone()
    assert row is not None and '"contact":1' in row["last_values"], \
        "the door's saved state was not committed with its change"
    s.start(sensors_online=False)
    door = [x for x in s.ctl_json("sensors")["sensors"] if x["id"] == "door-main"][0]
    assert door["values"].get("contact") == 1, door


def test_a_small_move_is_recorded_once_max_interval_s_is_up(site):
    site.config["history"] = {"max_interval_s": 60}
    s = site.start()
    heat(s, 27.0)
    heat(s, 27.2)
    # The scenario is an hour of a temperature that moved less than its
    # step, in a minute: wait for the interval to pass, then the same value
    # again (with a new battery level, so that the report is seen handled).
    time.sleep(61)
    heat(s, 27.2, battery=90)
    s.send_signal(signal.SIGTERM)  # a clean stop commits what waits
    assert s.wait_exit() == 0
    rows = temperature_rows(s)
    assert [v for v, _ in rows] == [27.0, 27.2], rows
    assert rows[1][1] - rows[0][1] >= 60000, "27.2 was recorded before the interval was up"


def test_check_reports_bad_history_values_with_their_position(tmp_path):
    cfg = base_config(1883)
    cfg["history"] = {"temperature_step": -1, "battery_step": 60, "max_interval_s": 10}
    path, text = write_site(tmp_path, cfg)
    r = run_check(path)
    assert r.returncode != 0
    diags = errors_only(parse_diags(r.stdout + r.stderr))
    by_key = {d["msg"].split(":")[0]: d for d in diags}
    for key, want in (("temperature_step", "must be 0 to 10"),
                      ("battery_step", "must be 0 to 50"),
                      ("max_interval_s", "must be 60 to 86400 seconds")):
        d = by_key.get(f"history.{key}")
        assert d, (key, diags)
        assert d["line"] == line_of(text, f'"{key}"'), d
        assert want in d["msg"], d
    assert len(diags) == 3, diags
