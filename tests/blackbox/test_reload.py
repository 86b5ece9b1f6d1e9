"""SIGHUP: reload config and rules; a bad edit never stops a running gateway."""

import json
import os
import signal
import sqlite3
import threading
import time

from helpers import TIMEOUT, parse_diags, wait_until

FIRE_ONLY = """\
rule "smoke raises the fire alarm"
when smoke becomes detected
then
  alarm fire
  siren on fire
  alert militia owner
end
"""

WITH_PANIC = FIRE_ONLY + """
rule "panic after reload"
when panic becomes pressed
then
  alarm panic
  alert militia priority urgent
end
"""

BROKEN = """\
rule "smoke raises the fire alarm"
when smok becomes detected
then
  alarm fire
  siren on fire
end

rule "unterminated
"""


def test_sighup_with_broken_rule_file_keeps_running_with_old_rules(site):
    site.rules = {"site.rules": FIRE_ONLY}
    site.start()
    (site.dir / "rules" / "site.rules").write_text(BROKEN)
    log_before = len(site.log())
    site.send_signal(signal.SIGHUP)
    # The daemon logs the errors of the rejected reload with their position.
    wait_until(lambda: any(os.path.basename(d["file"]) == "site.rules"
                           for d in parse_diags(site.log()[log_before:])),
               what="the reload's rule errors (site.rules:LINE:COL) in the log")
    assert site.alive()
    assert site.ctl("status").returncode == 0
    m = site.probe.mark()
    site.report("smoke-101", {"smoke": True})
    a = site.wait_alarm(since=m, state="raised")[0]
    assert a["class"] == "fire" and a["rule"] == "smoke raises the fire alarm"
    site.wait_siren("fire", since=m)


def test_sighup_with_broken_config_keeps_running(site):
    site.rules = {"site.rules": FIRE_ONLY}
    site.start()
    site.config_path.write_text(site.config_path.read_text().replace('"zones"', '"zonez"'))
    log_before = len(site.log())
    site.send_signal(signal.SIGHUP)
    wait_until(lambda: any(os.path.basename(d["file"]) == "config.json"
                           for d in parse_diags(site.log()[log_before:])),
               what="the reload's config errors (config.json:LINE:COL) in the log")
    assert site.alive()
    m = site.probe.mark()
    site.report("smoke-101", {"smoke": True})
    site.wait_alarm(since=m, state="raised", **{"class": "fire"})


def test_sighup_with_valid_changed_rules_uses_new_rules(site):
    site.rules = {"site.rules": FIRE_ONLY}
    site.start()
    m = site.probe.mark()
    # Before the reload a press matches no rule.
    site.report("panic-hall", {"action": "emergency"})
    site.barrier()
    assert site.alarm_msgs(since=m) == []

    (site.dir / "rules" / "site.rules").write_text(WITH_PANIC)
    site.send_signal(signal.SIGHUP)
    # No fixed sleep: press again until the reloaded rule answers.
    deadline = time.monotonic() + TIMEOUT
    while True:
        site.report("panic-hall", {"action": "emergency"})
        site.barrier()
        got = site.alarm_msgs(since=m, state="raised")
        if got or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert got, "the panic rule added by the reload never fired"
    assert got[0]["class"] == "panic" and got[0]["rule"] == "panic after reload"
    assert site.alive()
    # The old rules still work alongside.
    site.report("smoke-101", {"smoke": True})
    site.wait_alarm(since=m, state="raised", **{"class": "fire"})


def test_sighup_with_valid_changed_config_watches_the_new_sensor(site):
    site.rules = {"site.rules": FIRE_ONLY}
    site.start()
    site.config["zones"].append({"id": "room-103", "name": "Phòng 103", "floor": 1})
    site.config["sensors"].append(
        {"id": "smoke-103", "name": "Báo khói phòng 103", "kind": "smoke", "zone": "room-103",
         "mqtt": {"topic": "zigbee2mqtt/smoke_103", "format": "zigbee2mqtt"}})
    site.write()
    m = site.probe.mark()
    site.send_signal(signal.SIGHUP)
    # Until the reload the topic is not watched; report until it is. One
    # alarm per (class, zone): the repeats cannot raise a second one.
    deadline = time.monotonic() + TIMEOUT
    while True:
        site.report("smoke-103", {"smoke": True})
        site.barrier()
        got = site.alarm_msgs(since=m, state="raised")
        if got or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert got, "the sensor added by the reload is not watched"
    assert got[0]["zone"] == "room-103" and got[0]["zone_name"] == "Phòng 103"
    assert got[0]["sensor"] == "smoke-103"
    assert len(got) == 1
    assert site.status()["sensors"]["total"] == 7


def temperature_readings(site):
    """Temperature readings of heat-kitchen in the events table."""
    db = sqlite3.connect(site.db_path, timeout=5)
    try:
        return db.execute("SELECT COUNT(*) FROM events WHERE sensor = 'heat-kitchen'"
                          " AND type = 'reading' AND point = 'temperature'").fetchone()[0]
    finally:
        db.close()


def test_reports_published_during_reloads_are_all_read(site):
    """A reload must not leave a sensor's topic unsubscribed even for a moment:
    the broker drops (does not queue) what is published to a topic nobody
    subscribes, so a smoke report sent during a reload would be lost."""
    site.rules = {"site.rules": FIRE_ONLY}
    # Every new value in the events table (by default a temperature is
    # recorded only when it moved by half a degree): a report read is a row.
    site.config["history"] = {"temperature_step": 0}
    site.start()
    total = 3000
    topic = site.sensor_topic("heat-kitchen")
    stop = threading.Event()

    def reload_all_along():
        while not stop.is_set():
            site.send_signal(signal.SIGHUP)
            stop.wait(0.002)

    t = threading.Thread(target=reload_all_along)
    t.start()
    try:
        # A stream of reports, each a new value (a reading of its own in
        # the events table), QoS 1: the broker acknowledges every one.
        infos = [site.probe.client.publish(
            topic, json.dumps({"temperature": round(30 + i * 0.01, 2)}), qos=1)
            for i in range(total)]
        for info in infos:
            info.wait_for_publish(TIMEOUT)
            assert info.is_published()
    finally:
        stop.set()
        t.join()
    assert site.log().count("reload: done") >= 2, "the reloads did not run during the stream"
    wait_until(lambda: temperature_readings(site) >= total, what=f"all {total} reports read")
    assert temperature_readings(site) == total
