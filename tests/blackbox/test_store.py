"""The SQLite store: clean stops, alarms committed before they are sent, the
outbox across restarts, and the site status seen by the militia."""

import signal
import sqlite3
import subprocess

from helpers import SAFEHOUSECTL, MqttProbe, find_alarm, wait_until

SMOKE = {"smoke": True, "battery": 96}


def open_db(path):
    db = sqlite3.connect(path, timeout=5)
    db.row_factory = sqlite3.Row
    return db


def test_sigterm_stops_cleanly_and_leaves_database_consistent(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    raised = s.wait_alarm(since=m, state="raised")[0]
    s.send_signal(signal.SIGTERM)
    assert s.wait_exit() == 0
    with open_db(s.db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] >= 1
        row = db.execute("SELECT * FROM alarms WHERE id = ?", (raised["id"],)).fetchone()
        assert row is not None, "the raised alarm is not in the alarms table"
        assert row["class"] == "fire" and row["zone"] == "room-101"
        assert row["sensor"] == "smoke-101"
        n = db.execute("SELECT count(*) FROM events WHERE sensor = 'smoke-101'").fetchone()[0]
        assert n >= 1, "the smoke reading is not in the events table"


def test_sigint_stops_cleanly(running_site):
    s = running_site
    s.send_signal(signal.SIGINT)
    assert s.wait_exit() == 0
    with open_db(s.db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_alarm_is_in_database_as_soon_as_its_message_is_seen(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    raised = s.wait_alarm(since=m, state="raised")[0]
    # No clean stop: whatever was published must already be committed.
    s.send_signal(signal.SIGKILL)
    s.wait_exit()
    with open_db(s.db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        row = db.execute("SELECT class, zone FROM alarms WHERE id = ?",
                         (raised["id"],)).fetchone()
        assert row is not None, "an alarm was published before it was committed"


def test_restart_does_not_publish_a_second_raised_for_a_delivered_alarm(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    raised = s.wait_alarm(since=m, state="raised")[0]
    s.wait_alert(since=m, to="owner")
    wait_until(lambda: s.status()["outbox_pending"] == 0,
               what="outbox_pending 0 (broker acknowledged everything)")
    assert s.stop() == 0
    s.start()
    # Anything left in the outbox would go before a new message: raise
    # a panic and wait for it, then look at what came before.
    s.report("panic-hall", {"action": "emergency"})
    s.wait_alarm(since=m, state="raised", **{"class": "panic"})
    fire_raised = s.alarm_msgs(since=m, state="raised", id=raised["id"])
    assert len(fire_raised) == 1, f"the fire alarm was raised upstream {len(fire_raised)} times"
    assert len(s.alert_msgs(since=m, alarm=raised["id"])) == 2


def test_seq_keeps_growing_across_a_restart(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    first = s.wait_alarm(since=m, state="raised")[0]
    assert s.stop() == 0
    s.start()
    s.report("panic-hall", {"action": "emergency"})
    second = s.wait_alarm(since=m, state="raised", **{"class": "panic"})[0]
    assert second["seq"] > first["seq"]
    assert second["id"] != first["id"]


def test_status_is_retained_and_last_will_marks_site_offline(running_site):
    s = running_site
    st = s.probe.select(s.topic("status"))[-1]
    assert st.json()["online"] is True
    body = st.json()
    assert "mode" in body and isinstance(body.get("alarms"), list)
    assert isinstance(body.get("faults"), int)
    m = s.probe.mark()
    s.send_signal(signal.SIGKILL)
    s.wait_exit()
    s.probe.wait_for(s.topic("status"), since=m,
                     pred=lambda msg: msg.json().get("online") is False,
                     what="the last will: status online:false")
    # Live delivery clears the retain flag; a late subscriber sees the stored copy.
    late = MqttProbe(s.broker.port, topics=[s.topic("status")]).connect()
    try:
        got = late.wait_for(s.topic("status"), what="retained status for a late subscriber")
        assert got[0].retain and got[0].json()["online"] is False
    finally:
        late.close()


def test_status_shows_active_alarms_and_sensor_counts(running_site):
    s = running_site
    st = s.status()
    assert st["site"] == "test-site"
    assert st["mode"] in ("disarmed", "armed_home", "armed_night", "armed_away")
    sensors = st["sensors"]
    assert set(sensors) >= {"total", "online", "offline", "unknown"}
    assert sensors["total"] == 6
    assert sensors["online"] + sensors["offline"] + sensors["unknown"] == 6
    assert isinstance(st["rejected"], dict)
    assert isinstance(st["outbox_pending"], int)
    assert st["alarms"] == []
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    raised = s.wait_alarm(since=m, state="raised")[0]
    a = wait_until(lambda: find_alarm(s.status()["alarms"], id=raised["id"]),
                   what="the alarm in status")
    assert a["class"] == "fire" and a["zone"] == "room-101" and a["sensor"] == "smoke-101"
    assert set(a) >= {"id", "class", "state", "zone", "sensor", "rule", "message"}
    # Text output for a person, too.
    r = s.ctl("status")
    assert r.returncode == 0 and r.stdout.strip()


def test_alarms_all_lists_reset_alarms_too(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    raised = s.wait_alarm(since=m, state="raised")[0]
    s.report("smoke-101", {"smoke": False})
    s.wait_alarm(since=m, state="cleared")
    assert s.ctl("reset", raised["id"]).returncode == 0
    s.wait_alarm(since=m, state="reset")
    assert find_alarm(s.alarms(), id=raised["id"]) is None
    assert find_alarm(s.alarms(all_=True), id=raised["id"]) is not None


def test_safehousectl_exit_codes(running_site, tmp_path):
    s = running_site
    assert s.ctl("status").returncode == 0
    r = s.ctl("reset", "999999")
    assert r.returncode == 1 and r.stderr.strip(), (r.returncode, r.stderr)
    r = s.ctl("no-such-command")
    assert r.returncode == 2, (r.returncode, r.stderr)
    r = subprocess.run([SAFEHOUSECTL, "-s", str(tmp_path / "absent.sock"), "status"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, (r.returncode, r.stderr)


def test_heartbeat_is_published_periodically(site):
    site.config["heartbeat_s"] = 5  # the smallest the config accepts
    site.start()
    m = site.probe.mark()
    beats = site.probe.wait_for(site.topic("heartbeat"), since=m, count=2,
                                timeout=3 * 5 + 10, what="two heartbeats")
    for b in beats:
        assert isinstance(b.json(), dict)


def test_upstream_prefix_from_config(site):
    site.config["upstream"] = {"host": "127.0.0.1", "port": site.broker.port,
                               "prefix": "pccc"}
    site.start()
    m = site.probe.mark()
    site.report("smoke-101", SMOKE)
    a = site.wait_alarm(since=m, state="raised")[0]
    assert site.topic("alarm") == "pccc/test-site/alarm"
    assert a["class"] == "fire"
    assert site.probe.select("safehouse/test-site/alarm", m) == []


def test_restart_with_retained_smoke_state_raises_no_second_alarm(running_site):
    s = running_site
    m = s.probe.mark()
    # zigbee2mqtt with `retain: true` keeps the detector's last state on the
    # broker: a restarted gateway reads "smoke": true again at once.
    s.report("smoke-101", SMOKE, retain=True)
    raised = s.wait_alarm(since=m, state="raised")[0]
    assert s.stop() == 0
    s.start()
    s.report("panic-hall", {"action": "emergency"})
    s.wait_alarm(since=m, state="raised", **{"class": "panic"})
    assert len(s.alarm_msgs(since=m, state="raised", **{"class": "fire"})) == 1
    assert find_alarm(s.alarms(), id=raised["id"]) is not None


def test_sigkill_during_a_fire_then_restart_keeps_the_alarm_and_sounds_again(running_site):
    s = running_site
    m = s.probe.mark()
    s.report("smoke-101", SMOKE)
    raised = s.wait_alarm(since=m, state="raised")[0]
    s.wait_siren("fire", since=m)
    wait_until(lambda: s.status()["outbox_pending"] == 0,
               what="outbox_pending 0 (broker acknowledged everything)")
    s.send_signal(signal.SIGKILL)  # a power cut, as far as the daemon knows
    s.wait_exit()
    m2 = s.probe.mark()
    s.start()
    # the sirens come back on by themselves, and the alarm is still active
    s.wait_siren("fire", since=m2)
    active = [a for a in s.alarms() if a["id"] == raised["id"]]
    assert active and active[0]["class"] == "fire"
    # and nobody upstream hears of a second fire
    s.report("panic-hall", {"action": "emergency"})
    s.wait_alarm(since=m2, state="raised", **{"class": "panic"})
    assert s.alarm_msgs(since=m2, state="raised", id=raised["id"]) == []


# Temperatures and battery levels wait up to a minute for their commit (one
# commit a minute instead of one each: the SD card's wear, README
# "Database"); a state change takes them along at once, a clean stop too.
# Published at QoS 0, as zigbee2mqtt does: a QoS 1 message's acknowledgment
# waits for a commit of its own.

def heat_temperature(s, value):
    s.probe.publish(s.sensor_topic("heat-kitchen"), {"temperature": value, "battery": 91},
                    qos=0)
    wait_until(lambda: [x for x in s.ctl_json("sensors")["sensors"]
                        if x["id"] == "heat-kitchen"
                        and x["values"].get("temperature") == value],
               what=f"heat-kitchen at {value} in safehousectl sensors")


def temperature_rows(s, value):
    with open_db(s.db_path) as db:
        return db.execute("SELECT count(*) FROM events WHERE sensor = 'heat-kitchen' AND"
                          " point = 'temperature' AND value = ?", (value,)).fetchone()[0]


def test_temperature_reading_reaches_the_disk_on_its_own(running_site):
    s = running_site
    heat_temperature(s, 31.5)
    # Nothing else happens: the minute's batch is committed by itself.
    wait_until(lambda: temperature_rows(s, 31.5) == 1, timeout=90,
               what="the temperature reading committed without any other write")


def test_door_change_commits_at_once_and_takes_the_waiting_temperatures(running_site):
    s = running_site
    heat_temperature(s, 32.5)
    s.probe.publish(s.sensor_topic("door-main"), {"contact": False}, qos=0)
    with_door = "SELECT count(*) FROM events WHERE sensor = 'door-main' AND point = 'contact'"

    def door_rows():
        with open_db(s.db_path) as db:
            return db.execute(with_door).fetchone()[0]

    wait_until(lambda: door_rows() >= 1, what="the door change committed")
    s.send_signal(signal.SIGKILL)
    s.wait_exit()
    assert temperature_rows(s, 32.5) == 1, "the temperature before the door change was lost"


def test_sigterm_commits_the_temperatures_still_waiting(running_site):
    s = running_site
    heat_temperature(s, 33.5)
    s.send_signal(signal.SIGTERM)
    assert s.wait_exit() == 0
    assert temperature_rows(s, 33.5) == 1, "a clean stop lost a temperature reading"
    with open_db(s.db_path) as db:
        row = db.execute("SELECT last_values FROM sensors WHERE id = 'heat-kitchen'").fetchone()
    assert row is not None and '"temperature":33.5' in row["last_values"], row
