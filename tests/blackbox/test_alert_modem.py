"""Alerts through the daemon's outbox to a GSM modem (issue 11): the real
daemon, its outbox and escalation chain, and the real modem module on a
simulated SIM800 (a socat pty pair, modem_sim.py). The modem module alone is
tested in test_modem.py; the reply parser in tests/unit/test_outbox.c."""

import pytest

from helpers import TIMEOUT, wait_until
from modem_sim import ModemSim

SMOKE = {"smoke": True, "battery": 95}
DUTY = "+84901234567"    # the militia member on duty: SMS
POLICE = "+84902223333"  # the commune police: a call if nobody answers
STRANGER = "+84909999999"


@pytest.fixture
def modem(tmp_path):
    sim = ModemSim(tmp_path, "sim800")
    sim.start()
    yield sim
    sim.stop()


def militia_chain(site, modem, call_after_s):
    site.config["modem"] = {"device": modem.device, "baud": 115200, "ring_s": 5,
                            "check_s": 2}
    site.config["contacts"] = [
        {"id": "militia", "name": "Dân quân trực", "steps": [
            {"via": "upstream"},
            {"via": "sms", "phone": DUTY},
            {"via": "call", "phone": POLICE, "after_s": call_after_s}]},
        {"id": "owner", "via": "upstream"},
    ]


def fire(site):
    m = site.probe.mark()
    site.report("smoke-101", SMOKE)
    return m, site.wait_alarm(since=m, state="raised")[0]


def texts_to(modem, number):
    with modem._lock:
        return [t for n, t in modem.sms if n == number]


def outbox(site):
    reply = site.ctl_json("outbox", "--all")
    assert reply["ok"] is True
    return reply["outbox"]


def test_fire_sms_arrives_in_vietnamese_and_nobody_answering_brings_the_call(site, modem):
    militia_chain(site, modem, call_after_s=2)
    site.start()
    m, alarm = fire(site)
    wait_until(lambda: texts_to(modem, DUTY), what="the militia's SMS at the modem",
               timeout=TIMEOUT * 2)
    text = texts_to(modem, DUTY)[0]
    # decoded back from UCS-2 PDUs: the diacritics arrive intact
    assert text.startswith("BÁO CHÁY: ") and "Phòng 101" in text, text
    # nobody acknowledged: the next step rings the commune police
    wait_until(lambda: POLICE in modem.calls, what="the call to the police", timeout=TIMEOUT * 2)
    wait_until(lambda: [r for r in outbox(site) if r["channel"] == "call"
                        and r["state"] == "delivered"], what="the answered call delivered")


def test_an_ok_reply_acknowledges_stops_the_chain_and_is_confirmed(site, modem):
    militia_chain(site, modem, call_after_s=600)
    site.start()
    m, alarm = fire(site)
    wait_until(lambda: texts_to(modem, DUTY), what="the militia's SMS", timeout=TIMEOUT * 2)
    modem.incoming_sms(DUTY, "OK")
    site.wait_alarm(since=m, id=alarm["id"], state="acknowledged")
    # acknowledged by the contact the number belongs to
    wait_until(lambda: [a for a in site.alarms() if a["id"] == alarm["id"]
                        and a.get("acknowledged_by") == "militia"],
               what="the alarm acknowledged by militia")
    wait_until(lambda: [r for r in outbox(site) if r["channel"] == "call"
                        and r["state"] == "cancelled"], what="the call step cancelled")
    # the sender gets a confirmation SMS
    wait_until(lambda: len(texts_to(modem, DUTY)) >= 2, what="the confirmation SMS",
               timeout=TIMEOUT * 2)
    assert modem.calls == []


def test_a_reply_from_an_unknown_number_changes_nothing(site, modem):
    militia_chain(site, modem, call_after_s=600)
    site.start()
    m, alarm = fire(site)
    wait_until(lambda: texts_to(modem, DUTY), what="the militia's SMS", timeout=TIMEOUT * 2)
    modem.incoming_sms(STRANGER, "OK")
    wait_until(lambda: [e for e in site.ctl_json("events")["events"]
                        if e["type"] == "reply" and STRANGER[-4:] in (e.get("detail") or "")],
               what="the stranger's reply logged as an event")
    assert [a for a in site.alarms() if a["id"] == alarm["id"]][0]["state"] == "raised"
    assert texts_to(modem, STRANGER) == []


def test_a_modem_that_stays_unplugged_is_a_fault_alarm(site, tmp_path):
    site.config["modem"] = {"device": str(tmp_path / "no-such-modem"), "fault_s": 1}
    site.start()
    a = site.wait_alarm(state="raised", rule="modem")[0]
    assert a["class"] == "fault"
    assert a["rule"] == "modem" and "modem: not connected" in (a["message"] or ""), a
