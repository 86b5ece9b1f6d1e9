"""The tamper-evident event log: every event row is hash-chained to the one
before it, `safehousectl verify` names the first row that was changed or
deleted (here with the sqlite3 tool, as an owner could), the heartbeat
carries the chain's head to the station, and a false-alarm mark is an event
that never changes the alarm."""

import hashlib
import json
import sqlite3
import struct
import subprocess

from helpers import SAFEHOUSED, wait_until

SMOKE = {"smoke": True, "battery": 96}
CLEAR = {"smoke": False, "battery": 96}


def make_events(site, n=6):
    """n readings of smoke-102 (each an event row), all on the disk."""
    before = event_count(site)
    for i in range(n):
        site.report("smoke-102", {"smoke": False, "battery": 90 - i})
    wait_until(lambda: event_count(site) >= before + n, what=f"{n} more event rows")


def event_count(site):
    try:
        with sqlite3.connect(site.db_path, timeout=5) as db:
            return db.execute("SELECT count(*) FROM events").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def sqlite3_tool(site, sql):
    """Edit the database the way an owner with a shell could: the sqlite3
    command-line tool."""
    r = subprocess.run(["sqlite3", site.db_path, sql], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0, r.stderr


def middle_row(site):
    with sqlite3.connect(site.db_path, timeout=5) as db:
        lo, hi = db.execute("SELECT min(id), max(id) FROM events").fetchone()
    assert hi - lo >= 4, "too few event rows to pick one in the middle"
    return (lo + hi) // 2


def verify(site):
    r = site.ctl("verify", json_out=True)
    return r, json.loads(r.stdout)


def test_verify_passes_on_an_untouched_log_and_names_its_head(running_site):
    s = running_site
    make_events(s)
    r = s.ctl("verify")
    assert r.returncode == 0, r.stderr
    assert "event log verified" in r.stdout
    r, v = verify(s)
    assert r.returncode == 0
    assert v["verified"] is True and v["first_bad_row"] is None
    assert v["rows"] >= 6
    with sqlite3.connect(s.db_path, timeout=5) as db:
        held = db.execute("SELECT hash FROM events WHERE id = ?",
                          (v["head"]["row"],)).fetchone()[0]
    assert v["head"]["hash"] == held and len(held) == 64


def test_an_event_row_edited_with_sqlite3_fails_verify_at_that_row(running_site):
    s = running_site
    make_events(s)
    assert s.stop() == 0
    row = middle_row(s)
    sqlite3_tool(s, f"UPDATE events SET detail = 'nothing happened' WHERE id = {row}")
    s.start()
    r, v = verify(s)
    assert r.returncode == 1
    assert v["verified"] is False
    assert v["first_bad_row"] == row
    assert f"row {row}" in r.stderr
    # New events after the edit do not hide it.
    make_events(s, 2)
    assert verify(s)[1]["first_bad_row"] == row


def test_an_event_row_deleted_with_sqlite3_fails_verify_naming_the_gap(running_site):
    s = running_site
    make_events(s)
    assert s.stop() == 0
    row = middle_row(s)
    sqlite3_tool(s, f"DELETE FROM events WHERE id = {row}")
    s.start()
    r, v = verify(s)
    assert r.returncode == 1
    assert v["first_bad_row"] == row
    assert "missing" in v["reason"]


def test_safehoused_verify_checks_a_database_file_without_the_daemon(running_site):
    s = running_site
    make_events(s)
    assert s.stop() == 0
    ok = subprocess.run([SAFEHOUSED, "--verify", s.db_path], capture_output=True, text=True,
                        timeout=30)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "verified" in ok.stdout
    row = middle_row(s)
    sqlite3_tool(s, f"UPDATE events SET at_ms = at_ms - 3600000 WHERE id = {row}")
    bad = subprocess.run([SAFEHOUSED, "--verify", s.db_path], capture_output=True, text=True,
                         timeout=30)
    assert bad.returncode == 1
    assert f"row {row}" in bad.stdout


def test_safehoused_verify_of_a_missing_file_says_so(tmp_path):
    r = subprocess.run([SAFEHOUSED, "--verify", str(tmp_path / "none.db")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "none.db" in r.stderr


def test_heartbeat_carries_the_log_head(site):
    site.config["heartbeat_s"] = 5  # the smallest the config accepts
    site.start()
    make_events(site)
    m = site.probe.mark()
    beat = site.probe.wait_for(site.topic("heartbeat"), since=m,
                               pred=lambda b: b.json().get("log", {}).get("row", 0) > 0,
                               timeout=3 * 5 + 10, what="a heartbeat with the log head")[0]
    head = beat.json()["log"]
    with sqlite3.connect(site.db_path, timeout=5) as db:
        held = db.execute("SELECT hash FROM events WHERE id = ?", (head["row"],)).fetchone()
    assert held is not None and held[0] == head["hash"]


def test_status_shows_database_size_oldest_event_and_retention(running_site):
    s = running_site
    make_events(s, 1)
    st = s.status()
    assert st["database"]["bytes"] > 0
    assert st["database"]["oldest_event"].endswith("Z")
    assert st["database"]["retention_days"] == 400
    assert "database:" in s.ctl("status").stdout


def test_false_alarm_is_an_event_and_leaves_the_alarm_unchanged(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    alarm = s.wait_alarm(since=m, state="raised")[0]
    s.report("smoke-101", CLEAR)
    s.barrier()

    def alarm_row():
        with sqlite3.connect(s.db_path, timeout=5) as db:
            return db.execute("SELECT * FROM alarms WHERE id = ?", (alarm["id"],)).fetchone()

    wait_until(lambda: alarm_row() is not None, what="the alarm row on the disk")
    before = alarm_row()
    r = s.ctl("false-alarm", alarm["id"], "--reason", "khói nấu ăn", "--by", "chu nha")
    assert r.returncode == 0, r.stderr

    def marks():
        events = s.ctl_json("events", "--limit", "50")["events"]
        return [e for e in events if e["type"] == "false_alarm"]

    # Events reach the disk in the writer's next batch.
    wait_until(marks, what="the false_alarm event")
    marks = marks()
    assert len(marks) == 1
    detail = json.loads(marks[0]["detail"])
    assert detail == {"alarm": alarm["id"], "by": "chu nha", "reason": "khói nấu ăn"}
    assert alarm_row() == before
    # The mark is chained like every other event.
    assert verify(s)[1]["verified"] is True


def test_false_alarm_for_an_unknown_alarm_is_refused(running_site):
    s = running_site
    r = s.ctl("false-alarm", "9999", "--reason", "test")
    assert r.returncode == 1
    assert "no alarm 9999" in r.stderr
    # Whatever it wrote would be on the disk after the writer's next batch:
    # wait for a later event (a reading) to be there first.
    make_events(s, 1)
    events = s.ctl_json("events", "--limit", "50")["events"]
    assert [e for e in events if e["type"] == "reading"], "no events read at all"
    assert not [e for e in events if e["type"] == "false_alarm"]


def test_false_alarm_needs_a_reason(running_site):
    r = running_site.ctl("false-alarm", "1")
    assert r.returncode == 2
    assert "--reason" in r.stderr


def _text(v):
    if v is None:
        return b"\x00"
    b = v.encode()
    return b"\x03" + len(b).to_bytes(4, "big") + b


def _int(v):
    return b"\x01" + (v & (2**64 - 1)).to_bytes(8, "big")


def _real(v):
    if v is None:
        return b"\x00"
    return b"\x02" + struct.pack(">d", v)


def test_the_chain_follows_the_documented_encoding(running_site):
    """An inspector can check the log with nothing but the README: recompute
    every row's hash in Python from the documented encoding."""
    s = running_site
    make_events(s)
    s.ctl("arm", "home")  # a command event: no sensor, point or value
    assert s.stop() == 0
    prev = hashlib.sha256(b"safehouse event log v1").digest()
    with sqlite3.connect(s.db_path, timeout=5) as db:
        rows = db.execute("SELECT id, at, at_ms, origin, type, sensor, point, value, detail,"
                          " hash FROM events ORDER BY id").fetchall()
    assert len(rows) >= 7
    assert any(r[7] is None for r in rows) and any(r[7] is not None for r in rows)
    for (id_, at, at_ms, origin, type_, sensor, point, value, detail, held) in rows:
        enc = (_int(id_) + _text(at) + _int(at_ms) + _text(origin) + _text(type_) +
               _text(sensor) + _text(point) + _real(value) + _text(detail))
        prev = hashlib.sha256(prev + enc).digest()
        assert prev.hex() == held, f"row {id_}"


def test_false_alarm_with_a_tenants_code_is_refused_and_an_owners_accepted(running_site):
    from test_codes import add_user
    s = running_site
    add_user(s, "lan", "tenant", "1357")
    add_user(s, "chunha", "owner", "2468")
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    alarm = s.wait_alarm(since=m, state="raised")[0]
    r = s.ctl("false-alarm", alarm["id"], "--reason", "nấu ăn", "--code", "1357")
    assert r.returncode == 1
    assert "lan may not mark a false alarm (role tenant)" in r.stderr
    r = s.ctl("false-alarm", alarm["id"], "--reason", "nấu ăn", "--code", "2468")
    assert r.returncode == 0, r.stderr
    wait_until(lambda: [e for e in s.ctl_json("events", "--limit", "50")["events"]
                        if e["type"] == "false_alarm" and e.get("origin") == "chunha"],
               what="the owner's false_alarm event")
