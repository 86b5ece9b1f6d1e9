"""SIGHUP: reload config and rules; a bad edit never stops a running gateway."""

import os
import signal
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
