"""UPSTREAM OUTAGE: alarms and alerts are never lost while the militia's
broker is unreachable.

These tests run two brokers: the local one (sensors, sirens) and an upstream
one, configured in "upstream", which is down while the fire starts and is
brought up later on the same port. The militia's receiver is a persistent
MQTT session (clean_session false) that the upstream broker keeps across its
restarts (mosquitto persistence file), so it receives whatever the gateway
delivers as soon as the broker is back, without racing the gateway's
reconnect.
"""

import pytest

from helpers import Broker, MqttProbe, free_port, wait_until

MILITIA_ID = "militia-receiver"
SMOKE = {"smoke": True, "battery": 95}

pytestmark = pytest.mark.upstream_outage


@pytest.fixture
def upstream(tmp_path):
    """The militia's broker, with the receiver's persistent session already
    created; returned stopped unless a test starts it."""
    b = Broker(tmp_path / "upstream", port=free_port(), persistence=True)
    b.start()
    rx = MqttProbe(b.port, topics=["safehouse/#"], client_id=MILITIA_ID,
                   clean_session=False).connect()
    rx.close()
    receivers = []
    b.receivers = receivers
    yield b
    for r in receivers:
        r.close()
    b.stop()
    print("----- upstream mosquitto log -----")
    print(b.log()[-5000:])


def receive(upstream):
    """(Re)connect the militia's persistent session: it gets what the broker
    queued for it while it was away."""
    r = MqttProbe(upstream.port, topics=[], client_id=MILITIA_ID, clean_session=False).connect()
    upstream.receivers.append(r)
    return r


def use_upstream(site, upstream):
    site.config["upstream"] = {"host": "127.0.0.1", "port": upstream.port,
                               "prefix": "safehouse"}


def raise_fire_while_upstream_down(site):
    m = site.probe.mark()
    site.report("smoke-101", SMOKE)
    # The siren does not wait for the internet.
    site.wait_siren("fire", since=m)
    wait_until(lambda: site.alarms(), what="the fire alarm to be active")
    wait_until(lambda: site.status()["outbox_pending"] >= 3,
               what="alarm + 2 alerts pending in the outbox")
    # Nothing went to the local broker instead.
    assert site.alarm_msgs(since=m) == [] and site.alert_msgs(since=m) == []


def check_delivered_once(site, receiver):
    alarm = site.wait_alarm(probe=receiver, state="raised")[0]
    assert alarm["class"] == "fire" and alarm["zone"] == "room-101"
    assert alarm["sensor"] == "smoke-101"
    site.wait_alert(probe=receiver, to="militia", alarm=alarm["id"])
    site.wait_alert(probe=receiver, to="owner", alarm=alarm["id"])
    wait_until(lambda: site.status()["outbox_pending"] == 0,
               what="the outbox to drain once the broker acknowledged")
    receiver.roundtrip()
    feed = [msg.json() for msg in receiver.select()
            if msg.topic in (site.topic("alarm"), site.topic("alert"))]
    seqs = [d["seq"] for d in feed]
    assert seqs == sorted(set(seqs)), f"delivered out of order or twice: {seqs}"
    assert len(site.alarm_msgs(probe=receiver, state="raised")) == 1
    assert len(site.alert_msgs(probe=receiver)) == 2


def test_upstream_outage_alarm_and_alerts_arrive_when_broker_comes_up(site, upstream):
    assert upstream.stop() == 0
    use_upstream(site, upstream)
    site.start(upstream_local=False)
    raise_fire_while_upstream_down(site)

    upstream.start()
    receiver = receive(upstream)
    check_delivered_once(site, receiver)
    receiver.wait_for(site.topic("status"), pred=lambda msg: msg.json().get("online") is True,
                      what="status online:true on the upstream broker")


def test_upstream_outage_after_connection_lost_nothing_is_lost(site, upstream):
    use_upstream(site, upstream)
    receiver = receive(upstream)
    site.start(upstream_local=False)
    receiver.wait_for(site.topic("status"), pred=lambda msg: msg.json().get("online") is True,
                      what="the gateway's status on the upstream broker")
    receiver.close()
    upstream.receivers.remove(receiver)
    assert upstream.stop() == 0

    raise_fire_while_upstream_down(site)
    upstream.start()
    check_delivered_once(site, receive(upstream))


def test_upstream_outage_outbox_survives_a_gateway_restart(site, upstream):
    assert upstream.stop() == 0
    use_upstream(site, upstream)
    site.start(upstream_local=False)
    raise_fire_while_upstream_down(site)
    assert site.stop() == 0
    site.start(upstream_local=False)
    wait_until(lambda: site.status()["outbox_pending"] >= 3,
               what="the undelivered messages still pending after the restart")

    upstream.start()
    check_delivered_once(site, receive(upstream))


def test_upstream_link_down_past_its_limit_is_a_fault_cleared_when_back(site, upstream):
    upstream.stop()
    use_upstream(site, upstream)
    site.config["upstream"]["down_fault_s"] = 2
    site.start(upstream_local=False)
    wait_until(lambda: site.status()["faults"] == 1, what="the upstream link fault")
    fault = [a for a in site.alarms() if a["class"] == "fault"][0]
    assert "trung tâm" in fault["message"]
    upstream.start()
    wait_until(lambda: site.status()["faults"] == 0, timeout=60,
               what="the fault to clear once the link is back")
    rx = receive(upstream)
    # the militia learns of the outage afterwards, through the outbox
    rx.wait_for("safehouse/test-site/alarm", timeout=60,
                pred=lambda m: m.json()["class"] == "fault" and m.json()["state"] == "raised",
                what="the link fault in the alarm feed")
