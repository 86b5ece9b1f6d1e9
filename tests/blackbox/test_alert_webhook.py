"""Alerts through the daemon's outbox to a webhook (issue 11): a fire alarm
reaches a local HTTPS server (test CA made by openssl) through the real
webhook channel, and an escalation step to a webhook is cancelled by an
acknowledgment. The webhook module alone is tested in test_webhook.py."""

import json

from helpers import wait_until

SMOKE = {"smoke": True, "battery": 95}


def posts(https, path):
    return [r for r in https.find(lambda r: r["path"] == path and r["method"] == "POST")]


def outbox_rows(site):
    reply = site.ctl_json("outbox", "--all")
    assert reply["ok"] is True
    return reply["outbox"]


def fire(site):
    m = site.probe.mark()
    site.report("smoke-101", SMOKE)
    return m, site.wait_alarm(since=m, state="raised")[0]


def test_fire_alarm_reaches_the_owner_webhook_through_the_outbox(site, https, pki):
    site.config["contacts"] = [
        {"id": "militia", "via": "upstream"},
        {"id": "owner", "via": "webhook", "url": https.url + "/hook", "cafile": pki["ca"]},
    ]
    site.start()
    m, alarm = fire(site)
    wait_until(lambda: posts(https, "/hook"), what="the webhook POST")
    body = json.loads(posts(https, "/hook")[0]["body"])
    assert body["alarm"] == alarm["id"] and body["to"] == "owner" and body["class"] == "fire"
    wait_until(lambda: [r for r in outbox_rows(site)
                        if r["channel"] == "webhook" and r["state"] == "delivered"],
               what="the webhook row delivered in safehousectl outbox")


def test_ack_cancels_a_webhook_step_that_is_not_due_yet(site, https, pki):
    site.config["contacts"] = [
        {"id": "militia", "via": "upstream"},
        {"id": "owner", "steps": [
            {"via": "upstream"},
            {"via": "webhook", "url": https.url + "/late", "cafile": pki["ca"],
             "after_s": 600}]},
    ]
    site.start()
    m, alarm = fire(site)
    site.wait_alert(since=m, to="owner", alarm=alarm["id"])
    row = [r for r in outbox_rows(site) if r["channel"] == "webhook"]
    assert len(row) == 1 and row[0]["state"] == "pending", row
    site.probe.publish(site.topic("ack"), json.dumps({"alarm": alarm["id"], "by": "Lan"}))
    site.wait_alarm(since=m, id=alarm["id"], state="acknowledged")
    wait_until(lambda: [r for r in outbox_rows(site)
                        if r["channel"] == "webhook" and r["state"] == "cancelled"],
               what="the webhook step cancelled by the ack")
    assert posts(https, "/late") == []
