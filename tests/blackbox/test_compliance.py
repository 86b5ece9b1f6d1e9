"""The compliance report's verdicts, from a month of simulated history.

The history is written by tests/history_gen.c through the daemon's own store
code at injected times (a well-run house; each --break spoils one automatic
criterion), and the report is read back with `safehoused --report` from the
database file, as an inspector taking a copy away would. Every automatic
criterion is asserted to pass on the good month and to fail on its broken
one, with the other automatic criteria still passing: a check that fails
for the wrong reason, or passes vacuously, shows.
"""

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from helpers import ROOT, SAFEHOUSED, base_config

HISTORY_GEN = os.environ.get("HISTORY_GEN",
                             str(Path(SAFEHOUSED).resolve().parent / "history_gen"))
CRITERIA = ROOT / "rules" / "model" / "criteria.json"
END = "2026-10-01T00:00:00Z"
FROM = "2026-08-31T00:00:00Z"

# The automatic criteria of the shipped model that the history decides.
HISTORY_CRITERIA = ["walk-tested", "offline", "disablements", "fire-response",
                    "siren-test", "batteries", "upstream", "alerts-delivered"]
STRUCTURE_CRITERIA = ["smoke-in-rooms", "kitchen-heat-or-gas", "siren-per-floor"]


def write_config(tmp_path, edit=None):
    cfg = base_config(1883)
    cfg.pop("rules")
    cfg["criteria"] = str(CRITERIA)
    if edit:
        edit(cfg)
    path = tmp_path / "site.json"
    path.write_text(json.dumps(cfg, ensure_ascii=False))
    return path


def history(tmp_path, config, *breaks, days=31, cut_days=None):
    db = tmp_path / "history.db"
    args = [HISTORY_GEN, str(config), str(db), "--end", END, "--days", str(days)]
    for b in breaks:
        args += ["--break", b]
    if cut_days is not None:
        args += ["--cut-days", str(cut_days)]
    subprocess.run(args, check=True, timeout=60)
    return db


def report(config, db, fmt="json", lang="en", period=(FROM, END)):
    p = subprocess.run([SAFEHOUSED, "-c", str(config), "--report", "--from", period[0],
                        "--to", period[1], "--db", str(db), "--format", fmt, "--lang", lang],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout) if fmt == "json" else p.stdout


def verdicts(rep):
    return {c["id"]: c["result"] for c in rep["criteria"]}


def auto_ids(rep):
    return [c["id"] for c in rep["criteria"] if c["kind"] == "auto" and c["id"] != "event-log"]


def test_good_month_passes_every_automatic_criterion(tmp_path):
    cfg = write_config(tmp_path)
    rep = report(cfg, history(tmp_path, cfg))
    v = verdicts(rep)
    assert set(HISTORY_CRITERIA + STRUCTURE_CRITERIA) <= set(auto_ids(rep))
    assert {k: v[k] for k in auto_ids(rep)} == {k: "pass" for k in auto_ids(rep)}
    # history_gen writes through the real store: its log is hash-chained.
    assert v["event-log"] == "pass"
    assert rep["log"]["verified"] is True and rep["log"]["head"]["row"] > 0


def test_a_log_cut_more_recently_than_the_retention_fails_the_log_criterion(tmp_path):
    # Cutting the start of the log and leaving an anchor is what retention
    # does; done to rows younger than the retention (400 days), it hides them.
    cfg = write_config(tmp_path)
    rep = report(cfg, history(tmp_path, cfg, cut_days=10))
    assert verdicts(rep)["event-log"] == "fail"
    ev = [c for c in rep["criteria"] if c["id"] == "event-log"][0]["evidence"]
    assert any("cut through" in e and "retention of 400 days" in e for e in ev), ev


def test_a_log_cut_by_the_retention_itself_still_passes(tmp_path):
    cfg = write_config(tmp_path, lambda c: c.update(retention_days=1))
    rep = report(cfg, history(tmp_path, cfg, cut_days=10))
    assert verdicts(rep)["event-log"] == "pass"
    assert rep["log"]["verified"] is True


def test_an_edited_event_row_fails_the_log_criterion_naming_the_row(tmp_path):
    cfg = write_config(tmp_path)
    db = history(tmp_path, cfg)
    con = sqlite3.connect(db)
    row = con.execute("SELECT id FROM events WHERE type = 'alarm' ORDER BY id LIMIT 1").fetchone()[0]
    con.execute("UPDATE events SET detail = 'nothing happened' WHERE id = ?", (row,))
    con.commit()
    con.close()
    rep = report(cfg, db)
    assert verdicts(rep)["event-log"] == "fail"
    assert rep["log"]["verified"] is False and rep["log"]["first_bad_row"] == row
    ev = [c for c in rep["criteria"] if c["id"] == "event-log"][0]["evidence"]
    assert any(str(row) in e for e in ev), ev


@pytest.mark.parametrize("criterion", HISTORY_CRITERIA)
def test_broken_history_fails_its_criterion_only(tmp_path, criterion):
    cfg = write_config(tmp_path)
    rep = report(cfg, history(tmp_path, cfg, criterion))
    v = verdicts(rep)
    failed = [k for k in auto_ids(rep) if v[k] != "pass"]
    assert failed == [criterion]
    evidence = next(c["evidence"] for c in rep["criteria"] if c["id"] == criterion)
    assert evidence, "a failed criterion says why"


def _no_smoke_in_room_102(cfg):
    cfg["sensors"] = [s for s in cfg["sensors"] if s["id"] != "smoke-102"]


def _kitchen_without_heat_or_gas(cfg):
    cfg["sensors"] = [s for s in cfg["sensors"] if s["zone"] != "kitchen"]


def _second_floor_without_siren(cfg):
    cfg["zones"].append({"id": "room-201", "name": "Phòng 201", "floor": 2, "kind": "room"})
    cfg["sensors"].append({"id": "smoke-201", "name": "Báo khói 201", "kind": "smoke",
                           "zone": "room-201",
                           "mqtt": {"topic": "zigbee2mqtt/smoke_201",
                                    "format": "zigbee2mqtt"}})


@pytest.mark.parametrize("criterion,edit", [
    ("smoke-in-rooms", _no_smoke_in_room_102),
    ("kitchen-heat-or-gas", _kitchen_without_heat_or_gas),
    ("siren-per-floor", _second_floor_without_siren),
])
def test_missing_equipment_fails_its_criterion(tmp_path, criterion, edit):
    cfg = write_config(tmp_path, edit)
    rep = report(cfg, history(tmp_path, cfg))
    v = verdicts(rep)
    assert v[criterion] == "fail"
    assert [k for k in STRUCTURE_CRITERIA if v[k] != "pass"] == [criterion]


def test_report_lists_alarm_times_false_alarm_and_inspection(tmp_path):
    cfg = write_config(tmp_path)
    rep = report(cfg, history(tmp_path, cfg))
    (alarm,) = rep["alarms"]
    assert (alarm["class"], alarm["ack_s"], alarm["acked_by"], alarm["reset_s"]) == \
        ("fire", 40, "an", 600)
    assert alarm["false_alarm"]["by"] == "an" and alarm["false_alarm"]["reason"] == "nấu ăn"
    assert [f["duration_s"] for f in rep["faults"]] == [7200]
    assert rep["upstream"]["down_s"] == 3600
    assert rep["outbox"]["delivered"] == 3 and rep["outbox"]["pending"] == 0
    insp = rep["inspection"]
    assert insp["by"] == "kiem-tra" and insp["finished_at"]
    v = verdicts(rep)
    assert (v["extinguishers"], v["exits-clear"], v["wiring"]) == ("pass", "fail", "not_checked")
    assert rep["summary"]["failed"] == 1
    assert sum(d["alarms"] for d in rep["per_day"]) == 1
    assert len(rep["per_day"]) == 31


def test_report_json_has_the_documented_shape(tmp_path):
    cfg = write_config(tmp_path)
    rep = report(cfg, history(tmp_path, cfg))
    assert set(rep) >= {"site", "period", "generated_at", "language", "inventory", "criteria",
                        "summary", "alarms", "faults", "disablements", "walk_tests",
                        "batteries", "upstream", "outbox", "per_day", "inspection", "log"}
    assert set(rep["alarms"][0]) >= {"id", "class", "zone", "zone_name", "sensor", "raised_at",
                                     "acked_at", "acked_by", "ack_s", "reset_at", "reset_by",
                                     "reset_s", "false_alarm"}
    assert set(rep["inventory"][0]) >= {"zone", "zone_name", "floor", "kind", "sensors",
                                        "outputs"}
    assert rep["batteries"][0]["points"][0].keys() >= {"day", "percent"}
    assert rep["log"]["verified"] is True
    assert set(rep["log"]["head"]) == {"row", "hash"} and len(rep["log"]["head"]["hash"]) == 64


def test_text_report_is_in_vietnamese_by_default(tmp_path):
    cfg = write_config(tmp_path)
    db = history(tmp_path, cfg)
    text = report(cfg, db, fmt="text", lang="vi")
    assert "BÁO CÁO AN TOÀN PHÒNG CHÁY CHỮA CHÁY" in text
    assert "Mỗi phòng ở có đầu báo khói" in text
    assert "[ĐẠT]" in text


def test_report_refuses_a_missing_database_without_creating_it(tmp_path):
    cfg = write_config(tmp_path)
    missing = tmp_path / "nope.db"
    p = subprocess.run([SAFEHOUSED, "-c", str(cfg), "--report", "--from", FROM, "--to", END,
                        "--db", str(missing)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    assert "cannot open the database" in p.stderr
    assert not missing.exists()


def test_report_refuses_a_bad_period(tmp_path):
    cfg = write_config(tmp_path)
    db = history(tmp_path, cfg)
    p = subprocess.run([SAFEHOUSED, "-c", str(cfg), "--report", "--from", "yesterday",
                        "--to", END, "--db", str(db)], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 1 and "--from and --to" in p.stderr


def test_check_names_criteria_file_errors_with_position_and_hint(tmp_path):
    crit = json.loads(CRITERIA.read_text())
    crit["criteria"][1]["check"] = "zone_has_sensr"
    crit["criteria"][4]["max_hour"] = crit["criteria"][4].pop("max_hours")
    bad = tmp_path / "criteria.json"
    bad.write_text(json.dumps(crit, indent=1, ensure_ascii=False))

    def edit(cfg):
        cfg["criteria"] = str(bad)
    cfg = write_config(tmp_path, edit)
    p = subprocess.run([SAFEHOUSED, "-c", str(cfg), "--check"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1
    assert 'unknown check type "zone_has_sensr" (did you mean "zone_has_sensor"?)' in p.stderr
    assert 'unknown key "max_hour" for check "offline_max" (did you mean "max_hours"?)' \
        in p.stderr
    assert f"{bad}:" in p.stderr


def test_check_refuses_a_missing_criteria_file(tmp_path):
    def edit(cfg):
        cfg["criteria"] = "no-such-criteria.json"
    cfg = write_config(tmp_path, edit)
    p = subprocess.run([SAFEHOUSED, "-c", str(cfg), "--check"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 1 and "criteria file" in p.stderr
